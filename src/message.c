/*
 * message.c - lifetime of struct message (see message.h).
 */
#include "autoconfig.h"

#include "message.h"

void
link_free(gpointer p)
{
	struct link *l = p;

	if (l == NULL)
		return;
	g_free(l->url);
	g_free(l->text);
	g_free(l);
}

struct message *
message_new(void)
{
	struct message *msg = g_new0(struct message, 1);

	msg->to = g_ptr_array_new_with_free_func(g_free);
	msg->delivered_to = g_ptr_array_new_with_free_func(g_free);
	msg->links = g_ptr_array_new_with_free_func(link_free);
	msg->auth_results = g_ptr_array_new_with_free_func(g_free);
	msg->subject = g_strdup("");
	msg->text = g_strdup("");
	return msg;
}

void
message_free(struct message **msgp)
{
	struct message *msg = *msgp;

	if (msg == NULL)
		return;
	g_free(msg->message_id);
	g_free(msg->from);
	g_free(msg->from_domain);
	g_ptr_array_unref(msg->to);
	g_ptr_array_unref(msg->delivered_to);
	g_free(msg->subject);
	g_free(msg->text);
	g_ptr_array_unref(msg->links);
	g_ptr_array_unref(msg->auth_results);
	message_free(&msg->forwarded);
	g_free(msg);
	*msgp = NULL;
}
