/*
 * test-detect.c - detect.c: one-time codes in many languages and layouts,
 * the decoys that must not be taken for codes, magic links, and hostile or
 * huge input.  Table-driven: every case is {subject, text, kind, value}.
 */
#include "autoconfig.h"

#include <string.h>

#include "detect.h"
#include "lexicon.h"
#include "message.h"

#define C DETECT_CODE
#define N DETECT_NONE
#define L DETECT_LINK

struct dcase {
	const char *subject;
	const char *text;
	enum detect_kind kind;
	const char *value;
};

/* ---- codes --------------------------------------------------------------- */

static const struct dcase code_cases[] = {
	/* English, the plain forms */
	{ "", "Your verification code is 123456", C, "123456" },
	{ "Verify your email", "Hi Anna,\n\nYour verification code is 482913.\n\nIt expires in 10 minutes.", C, "482913" },
	{ "", "Use 739201 to sign in to Acme.", C, "739201" },
	{ "", "Your Acme code: 5521", C, "5521" },
	{ "", "Enter this code to continue:\n\n  918273\n\nIf you didn't ask for it, ignore this mail.", C, "918273" },
	{ "Your one-time passcode", "Here is your one-time passcode:\n\n662301\n\nThanks,\nThe Team", C, "662301" },
	{ "", "Your OTP is 88412003. Do not share it with anyone.", C, "88412003" },
	{ "", "Your PIN is 4821", C, "4821" },
	{ "", "Your security code is 302 118", C, "302118" },
	{ "", "Your login code: 55-12-09", C, "551209" },
	{ "", "Two-factor authentication code: 771 204", C, "771204" },
	{ "", "Your 2FA code is 904-117", C, "904117" },
	{ "", "Sign-in code\n\n1 2 3 4 5 6\n\nThis code expires in 5 minutes.", C, "123456" },
	{ "", "Your code\n3 8 1 9\n", C, "3819" },
	{ "", "Confirm your email address with this code: 430187", C, "430187" },
	{ "", "Hello,\nTo finish logging in, use the following code.\nCode: 239810\nRegards", C, "239810" },
	{ "", "Log in to Acme\n\nWe received a request to log in.\n\nYour code\n\n550142\n\nThis code is valid for 15 minutes.", C, "550142" },
	{ "", "Authentication code for your account: 66720011", C, "66720011" },
	{ "", "Your Microsoft account security code is 7721", C, "7721" },
	{ "", "Use the passcode 48213 to authenticate.", C, "48213" },
	{ "", "Please use the verification code below to verify your identity.\n\n\n\n 817264 \n", C, "817264" },
	{ "", "Your verification code is 123 456 789", N, NULL },
	{ "", "Your verification code: 9876543", C, "9876543" },
	{ "", "Your code is 12.34.56", C, "123456" },
	{ "", "Your security code is 12 34 56 78", C, "12345678" },
	{ "", "Your code is 0042", C, "0042" },
	{ "", "Your code is 2024", C, "2024" },
	{ "", "Verification code: 1999", C, "1999" },
	/* the code in the subject */
	{ "123456 is your Facebook code", "", C, "123456" },
	{ "Your Instagram code is 882190", "Hi, someone tried to log in.", C, "882190" },
	{ "G-482913 is your Google verification code", "", C, "482913" },
	{ "Slack confirmation code: KXR-4T9", "Confirm your email address\nYour confirmation code is below.\nKXR-4T9\n", C, "KXR-4T9" },
	{ "[Acme] Verification code 402913", "Hello,\nSee the subject.", C, "402913" },
	{ "402913 - Your login code", "", C, "402913" },
	{ "Your sign-in code", "\n   730019   \n", C, "730019" },
	{ "Your code", "Hi!\n\n810423\n\nSee you soon.", C, "810423" },
	{ "123456 is your code", "Your code is 123456.", C, "123456" },
	{ "Order 123456 shipped", "", N, NULL },
	{ "Your verification code", "Order #42 shipped.\n\n", N, NULL },
	/* alphanumeric codes */
	{ "", "Your verification code is AB12CD", C, "AB12CD" },
	{ "", "Your code: 7TQ-M4K", C, "7TQ-M4K" },
	{ "", "Enter code X7K9-P2Q4 to sign in.", C, "X7K9-P2Q4" },
	{ "", "Your backup code is 4F9A-2C7B-11DE", C, "4F9A-2C7B-11DE" },
	{ "", "Your verification code is A1-B2-C3-D4", N, NULL },
	{ "", "Your code: abc123", N, NULL },
	{ "", "Verification code\n\nQWERTY\n", N, NULL },
	/* German */
	{ "", "Dein Bestätigungscode lautet: 482 913", C, "482913" },
	{ "", "Ihr Sicherheitscode: 771045", C, "771045" },
	{ "Anmeldung bei Acme", "Hallo Max,\n\nverwende diesen Code, um dich anzumelden:\n\n309172\n\nDer Code ist 10 Minuten gültig.", C, "309172" },
	{ "", "Ihr Einmalpasswort lautet 55129034.", C, "55129034" },
	{ "", "Ihr Verifizierungscode ist 640219", C, "640219" },
	{ "", "Bitte bestätigen Sie Ihre Anmeldung mit dem Code 2291.", C, "2291" },
	{ "", "Ihre mobileTAN: 418207", C, "418207" },
	{ "", "Ihr Anmeldecode: 093 114", C, "093114" },
	/* French */
	{ "", "Votre code de vérification : 739201", C, "739201" },
	{ "", "Votre code de sécurité est 5512.", C, "5512" },
	{ "Connexion à votre compte", "Bonjour,\nVoici votre code de connexion :\n\n480 216\n\nÀ bientôt", C, "480216" },
	{ "", "Code d'authentification : 90 12 44", C, "901244" },
	{ "", "Pour confirmer votre adresse, saisissez le code 661203.", C, "661203" },
	/* Spanish */
	{ "", "Tu código de verificación es 5521", C, "5521" },
	{ "", "Su código de seguridad es: 883 002", C, "883002" },
	{ "Iniciar sesión en Acme", "Hola,\nUsa este código para iniciar sesión:\n\n294011\n", C, "294011" },
	{ "", "Código de verificación: 10-20-30", C, "102030" },
	/* Portuguese */
	{ "", "Seu código de verificação é 918273", C, "918273" },
	{ "", "O seu código de segurança: 771 902", C, "771902" },
	{ "", "Use o código 402211 para confirmar o seu acesso.", C, "402211" },
	/* Italian */
	{ "", "Il tuo codice di verifica è 662301", C, "662301" },
	{ "", "Codice di accesso: 510 227", C, "510227" },
	{ "", "Il codice di sicurezza per accedere è 7720.", C, "7720" },
	{ "", "Il tuo codice OTP monouso è 40021178", C, "40021178" },
	/* Dutch */
	{ "", "Je verificatiecode is 123-456", C, "123456" },
	{ "", "Uw inlogcode: 883120", C, "883120" },
	{ "", "Je beveiligingscode is 4410.", C, "4410" },
	{ "Bevestig je e-mailadres", "Hoi,\nGebruik deze code om in te loggen:\n\n660 913\n", C, "660913" },
	/* Japanese */
	{ "", "確認コード: 839201", C, "839201" },
	{ "", "認証コード：482913\nこのコードの有効期限は10分です。", C, "482913" },
	{ "", "あなたのワンタイムパスワードは 55120394 です。", C, "55120394" },
	{ "【Acme】ログイン認証", "ログインするには以下のコードを入力してください。\n\n771204\n", C, "771204" },
	{ "", "検証コード 4412", C, "4412" },
	{ "", "パスコード：302 118", C, "302118" },
	{ "", "839201 はあなたの認証コードです", C, "839201" },
	/* Chinese */
	{ "", "您的验证码是：739104，5分钟内有效", C, "739104" },
	{ "", "【Acme】验证码739104，请勿泄露。", C, "739104" },
	{ "", "您的動態碼為 402913，請於10分鐘內輸入。", C, "402913" },
	{ "", "驗證碼：5521", C, "5521" },
	{ "", "校验码 88201934，用于登录。", C, "88201934" },
	{ "", "739104是您的验证码，请勿告诉他人。", C, "739104" },
	{ "", "您正在登录 Acme，安全码：7712", C, "7712" },
	/* Korean */
	{ "", "인증번호 [482913]를 입력해 주세요.", C, "482913" },
	/* layouts: tables, HTML spans, NBSP, thin spaces */
	{ "", "Your code\n4 8 2 9 1 3", C, "482913" },
	{ "", "Your verification code is 482\xc2\xa0" "913", C, "482913" },
	{ "", "Your verification code is 482\xe2\x80\x8b" "913", C, "482913" },
	{ "", "Your verification code is:\n\n\n\n\n482913", C, "482913" },
	{ "", "Verification code\nPlease enter it below.\nDo not share it.\nThanks\n482913", N, NULL },
	{ "", "482913\nis your verification code", C, "482913" },
	{ "", "Verification code: 482913\n\nYour order 123456 has shipped.", C, "482913" },
	/* several values: one code, or nothing */
	{ "", "Your verification code is 123456.\nYour verification code is 123456.", C, "123456" },
	{ "", "Your code is 123456. Your backup code is 654321.", N, NULL },
	{ "", "Verification code: 111222\nVerification code: 333444", N, NULL },
	{ "", "Your code is 482913.\nIf you didn't request it, call us at 0800 1234.", C, "482913" },
	{ "", "Your code is 482913. Questions? Call +1 555 010 7788.", C, "482913" },
	{ "", "Your verification code is 482913. Order #55120 was not affected.", C, "482913" },
	{ "", "Your verification code: 482913\nUse promo code SAVE20 for 20% off.", C, "482913" },
	{ "", "Verification code: 482913 (expires at 12:30 on 2024-05-17)", C, "482913" },
	{ "", "Sign in code 482913, valid until 17.05.2024.", C, "482913" },
	{ "", "Your Apple ID code is: 482913. Don't share it.", C, "482913" },
	{ "", "Use verification code 482913 for Microsoft authentication.\nIf you didn't request this, contact support at 1-800-642-7676.", C, "482913" },
	{ "", "Your code expires in 10 minutes: 482913", C, "482913" },
	{ "Amazon", "Your one-time password (OTP) is 482913. Do not share it.", C, "482913" },
	{ "Your code", "Hello,\n\n4829\n\nThanks", C, "4829" },
	/* languages of the lexicon (doc/core.md §3), one line each */
	{ "", "Ваш код подтверждения: 482913", C, "482913" },
	{ "Вхід до облікового запису", "Введіть цей одноразовий код:\n\n551209", C, "551209" },
	{ "", "Twój kod weryfikacyjny to: 739201", C, "739201" },
	{ "", "Váš ověřovací kód je: 604218", C, "604218" },
	{ "", "Doğrulama kodunuz: 318274", C, "318274" },
	{ "", "Använd den här engångskoden för att logga in:\n\n771204", C, "771204" },
	{ "", "Din bekræftelseskode er: 620847", C, "620847" },
	{ "", "Vahvistuskoodisi on: 425721", C, "425721" },
	{ "", "Az ellenőrző kódod: 918273", C, "918273" },
	{ "", "Codul tău de verificare este: 593027", C, "593027" },
	{ "", "Ο κωδικός επαλήθευσης είναι: 880143", C, "880143" },
	{ "", "קוד האימות שלך הוא: 738215", C, "738215" },
	{ "", "رمز التحقق الخاص بك هو: 548213", C, "548213" },
	{ "", "كد تأیید شما: 605819", C, "605819" },
	{ "", "आपका सत्यापन कोड है: 392847", C, "392847" },
	{ "", "รหัสยืนยันของคุณคือ 284013", C, "284013" },
	{ "", "Mã xác thực của bạn là: 506182", C, "506182" },
	{ "", "Kode verifikasi Anda adalah: 635402", C, "635402" },
	{ "", "Kod pengesahan anda ialah: 583614", C, "583614" },
	{ "", "로그인을 완료하려면 아래 확인 코드를 입력하세요.\n\n729413", C, "729413" },
	{ "", "您正在登入帳戶，請輸入以下一次性密碼：\n\n663018", C, "663018" },
	/* shapes: lower/mixed case beside an OTP word, log in to your account, labels */
	{ "", "Your verification code is: a4k9zq", C, "a4k9zq" },
	{ "", "Your one-time passcode is Tq8Lm3", C, "Tq8Lm3" },
	{ "", "Enter this one-time code to log in:\n\nk3m8x2", C, "k3m8x2" },
	{ "", "Enter this code to log in to your account: 936174", C, "936174" },
	{ "", "Use the following code to access your account: 771093", C, "771093" },
	{ "", "FB-48213 is your Facebook confirmation code", C, "48213" },
	{ "", "Here is the Steam Guard code you need to login to account bot:\n\n4KT9Q", C, "4KT9Q" },
	/* a brand is not a kind of mail: a meeting or travel company's own sign-in code */
	{ "Your Webex verification code", "Your Webex verification code is 482913", C, "482913" },
	{ "Your Booking.com verification code", "Use this verification code to sign in to your Booking.com account:\n\n48213907", C, "48213907" },
};

/* ---- decoys: no code ------------------------------------------------------ */

static const struct dcase decoy_cases[] = {
	/* nothing at all */
	{ "", "", N, NULL },
	{ "", "Hello world", N, NULL },
	{ "Hi", "123456", N, NULL },
	{ "", "123456", N, NULL },
	{ "", "Meeting notes\n\n482913\n\nSee you tomorrow.", N, NULL },
	/* newsletters with years and prices */
	{ "Our spring sale", "Spring sale 2024!\nEverything 30% off until May 31.\nPrices from $19.99.\n\n© 2024 Acme Inc.", N, NULL },
	{ "Newsletter", "Welcome to the 2025 edition. Log in to read more.\nSubscribers: 12500\nPrice: 4999 USD", N, NULL },
	{ "", "Sign in to see what's new in 2024.", N, NULL },
	{ "", "Log in to claim your 5000 bonus points worth $50.", N, NULL },
	{ "", "Security tips for 2024: never share your code.", N, NULL },
	{ "", "Your account balance is 1250 EUR.", N, NULL },
	{ "", "Total: € 1299\nConfirm your order.", N, NULL },
	{ "", "Confirm your subscription for 12.99 per month.", N, NULL },
	{ "", "Confirm your order of 1.299,00 €", N, NULL },
	{ "", "Verify your identity to withdraw 2500 $", N, NULL },
	{ "", "Montant : 12 345 € — confirmez le paiement.", N, NULL },
	{ "", "Sign in: save 20% with code SPRING2024 at checkout.", N, NULL },
	{ "", "Use promo code SAVE4821 for 15% off.", N, NULL },
	{ "", "Your promo code: 482913", N, NULL },
	{ "", "Ihr Gutscheincode: 482913", N, NULL },
	{ "", "Votre code promo : 482913", N, NULL },
	{ "", "Je kortingscode is 4829", N, NULL },
	{ "", "Use coupon code 7788 for a discount.", N, NULL },
	{ "", "Your gift code 44120093 is ready.", N, NULL },
	{ "", "Referral code: 9911", N, NULL },
	{ "", "您的优惠码：482913", N, NULL },
	{ "", "クーポンコード: 482913", N, NULL },
	/* shipping notices with tracking numbers */
	{ "Your package is on its way", "Tracking number: 94001118992231\nSign in to track your package.", N, NULL },
	{ "", "Your order 48291377 has shipped. Log in to see details.", N, NULL },
	{ "", "Tracking code: 48291377", N, NULL },
	{ "", "Sendungsnummer 00340434161094 – bitte bestätigen Sie die Zustellung.", N, NULL },
	{ "", "Ihre Bestellung Nr. 4829133 wurde bestätigt.", N, NULL },
	{ "", "Votre commande n° 55120 est confirmée.", N, NULL },
	{ "", "Su pedido 882013 ha sido confirmado.", N, NULL },
	{ "", "Seu pedido 550123 foi confirmado.", N, NULL },
	{ "", "Il tuo ordine 77201 è stato confermato.", N, NULL },
	{ "", "Je bestelling 660112 is bevestigd.", N, NULL },
	{ "", "您的订单号：48291377，已确认。", N, NULL },
	{ "", "ご注文番号：482913 確認メール", N, NULL },
	/* receipts */
	{ "Your receipt", "Receipt\nInvoice number: 20240517\nOrder #55120\nTotal: $42.50\nConfirm your order online.", N, NULL },
	{ "", "Invoice 10023 – please confirm payment of 250.00 EUR", N, NULL },
	{ "", "Rechnungsnummer: 40012 – bitte bestätigen", N, NULL },
	{ "", "Customer ID: 88120034\nSign in to view your invoice.", N, NULL },
	{ "", "Account number 12345678 – verify your details.", N, NULL },
	{ "", "Reference: 77120045 – confirm your booking.", N, NULL },
	{ "", "Booking confirmation 48291377", N, NULL },
	{ "", "Confirmation number: 48291377 (Hotel Acme)", N, NULL },
	{ "", "Ticket #4821 – your security question was answered.", N, NULL },
	{ "", "Case 48291 – Verify your account.", N, NULL },
	{ "", "Transaction ID 55120093 – sign in to confirm.", N, NULL },
	{ "", "Card ending in 4821 – verify this payment.", N, NULL },
	{ "", "Verify the card **** 4821", N, NULL },
	{ "", "Flight LH4821 – check in and confirm your seat.", N, NULL },
	/* calendar invites with dates and times */
	{ "Invitation: Security review", "When: 2024-05-17 14:30–15:30\nWhere: Room 4821\nJoin: confirm attendance", N, NULL },
	{ "", "Login review on 17/05/2024 at 09:15", N, NULL },
	{ "", "Sign-in meeting 17.05.2024, 10:00", N, NULL },
	{ "", "Security audit: May 17, 2024", N, NULL },
	{ "", "Anmeldung bis 2024-05-31", N, NULL },
	{ "", "Verification deadline: 2024-06", N, NULL },
	{ "", "Confirm your attendance for 2023-2024", N, NULL },
	{ "", "Login at 1230h? Code review at 12:30.", N, NULL },
	{ "", "验证时间：2024年5月17日", N, NULL },
	/* phone numbers near "call us to verify" */
	{ "", "Call us to verify: 0800 1234", N, NULL },
	{ "", "To verify your account call (555) 123-4567.", N, NULL },
	{ "", "Verify by phone: +49 30 1234567", N, NULL },
	{ "", "Verification hotline: 555-1234", N, NULL },
	{ "", "Sicherheitsfragen? Telefon: 030 12345", N, NULL },
	{ "", "Verify your account. Tel. 0171 234 5678", N, NULL },
	{ "", "Pour vérifier, appelez le 01 23 45 67 89", N, NULL },
	{ "", "Verify your phone number ending 4821", N, NULL },
	{ "", "验证电话：40012345", N, NULL },
	/* postcodes near "zip code" */
	{ "", "Please confirm your zip code: 94107", N, NULL },
	{ "", "Verify your address: 1 Market St, San Francisco, CA 94107", N, NULL },
	{ "", "Confirm delivery to 75008 Paris", N, NULL },
	{ "", "Anmeldung: Hauptstraße 5, 10115 Berlin", N, NULL },
	{ "", "Confirm your address: Damrak 1, 1012 AB Amsterdam", N, NULL },
	{ "", "Ihre Postleitzahl: 80331 – bitte bestätigen", N, NULL },
	{ "", "Votre code postal : 75008", N, NULL },
	{ "", "Tu código postal: 28013", N, NULL },
	{ "", "Il codice postale è 00184", N, NULL },
	{ "", "Verify your postcode 2511", N, NULL },
	{ "", "郵便番号：1500001 の確認", N, NULL },
	/* other "code" phrases */
	{ "", "Error code 4040 while signing in.", N, NULL },
	{ "", "Status code: 5030 during login", N, NULL },
	{ "", "Scan the QR code 48291377 at the door.", N, NULL },
	{ "", "Barcode: 4006381333931", N, NULL },
	{ "", "Product code 77120 – confirm stock", N, NULL },
	{ "", "Your door code is 4821 — confirm arrival.", N, NULL },
	{ "", "Area code 0800 for verification calls", N, NULL },
	{ "", "Dress code: smart casual. Confirm by 1800.", N, NULL },
	/* digits in URLs, e-mail addresses, file names */
	{ "", "Verify at https://example.com/verify/482913", N, NULL },
	{ "", "Sign in: https://example.com/login?id=482913", N, NULL },
	{ "", "Confirm via www.example.com/c/482913", N, NULL },
	{ "", "Verify your address user482913@example.com", N, NULL },
	{ "", "Confirm to 482913@example.com", N, NULL },
	{ "", "Verification report attached: scan_482913.pdf", N, NULL },
	{ "", "Your code is in report-482913.pdf", N, NULL },
	{ "", "Verification: see invoice.482913.pdf", N, NULL },
	{ "", "Security update 4.8.2.9 installed", N, NULL },
	{ "", "Login from 192.168.1.104", N, NULL },
	{ "Shipped", "Your package 1Z999AA10123456784 is out for delivery. Sign in to track.", N, NULL },
	{ "Welcome", "Your account 4821 was created.\nConfirm your email.", N, NULL },
	{ "", "Subscribers: 12500\nLog in to read more.", N, NULL },
	{ "", "Login from IP 10.20.30.40 at 14:02", N, NULL },
	{ "", "Sign in with version 2.10.4", N, NULL },
	/* units, percentages, quantities */
	{ "", "Security: 2048 bit keys", N, NULL },
	{ "", "Verify 4821% growth", N, NULL },
	{ "", "Security camera 4K 64GB 10AM", N, NULL },
	{ "", "Login codes used: 1,024", N, NULL },
	{ "", "Sign in with UTF-8 and ISO-8859-1", N, NULL },
	/* "password reset" mail: no code, no sign-in link */
	{ "Reset your password", "Someone asked to reset your password.\nReset it here: https://example.com/password/reset?token=aZ81kPq0LmX93vTy\nIf this wasn't you, ignore this mail.", N, NULL },
	/* "new sign-in" alert: no code */
	{ "New sign-in to your account", "We noticed a new sign-in.\nTime: 14:32\nLocation: 10115 Berlin\nIP: 203.0.113.7\nIf this was you, no action is needed.", N, NULL },
	/* two different codes of equal weight */
	{ "Your codes", "Code A: 482913\nCode B: 551209", N, NULL },
	{ "", "Your verification codes: 482913 and 551209", N, NULL },
	/* not sign-in codes: meetings, bookings, pick-up, gift and promo codes */
	{ "Invitation: Quarterly review", "Join Zoom Meeting\nMeeting ID: 845 2931 0573\nPasscode: 913472", N, NULL },
	{ "", "Microsoft Teams meeting\nMeeting ID: 354 219 874 561\nPasscode: Ab3xYz", N, NULL },
	{ "Einladung: Teambesprechung", "Meeting-ID: 812 3456 7890\nKenncode: 604218", N, NULL },
	{ "会议邀请：产品周会", "#腾讯会议：528-913-476\n会议密码：604218", N, NULL },
	{ "Reservation confirmed for Lisbon", "Confirmation code\nHMXK2P4QZT", N, NULL },
	{ "Your booking is confirmed", "Booking number: 4129583072\nPIN code: 7391", N, NULL },
	{ "", "Abholcode für die Packstation: 482913", N, NULL },
	{ "", "Kod odbioru: 482913", N, NULL },
	{ "", "受取用の認証キー: 482913 は配達員にお伝えください。", N, NULL },
	{ "", "取件码：482913", N, NULL },
	{ "You've received a Starbucks eGift", "Card number: 6142 8827 3391 0045\nSecurity code: 48213", N, NULL },
	{ "", "Your referral code: bot48k2", N, NULL },
	{ "", "Your code: abc123", N, NULL },
	{ "", "Ваш промокод: LETO300", N, NULL },
	{ "ご予約の確認", "予約番号：48213907\n確認コード：482913", N, NULL },
	{ "Siparişiniz kargoya verildi", "Sipariş numarası: 482913756\nKargo takip kodu: 482913", N, NULL },
};

/* ---- magic links from the text ---------------------------------------- */

static const struct dcase textlink_cases[] = {
	{ "Sign in to Acme", "Click the link below to sign in:\nhttps://app.acme.com/auth/magic?token=Zx81kPq0LmX93vTyQ2", L, "https://app.acme.com/auth/magic?token=Zx81kPq0LmX93vTyQ2" },
	{ "Your magic link", "Hi!\nhttps://app.example.com/login/e8f3a91c2b7d44e0a1f2\nThis link expires in 15 minutes.", L, "https://app.example.com/login/e8f3a91c2b7d44e0a1f2" },
	{ "Anmelden", "Hier anmelden: https://example.de/signin?t=8f3a91c2b7d44e0a1f2b", L, "https://example.de/signin?t=8f3a91c2b7d44e0a1f2b" },
	{ "", "Confirm your email address:\n<https://example.com/confirm/8f3a91c2b7d44e0a1f2b>", L, "https://example.com/confirm/8f3a91c2b7d44e0a1f2b" },
	{ "Sign in", "Sign in: https://example.com/login", N, NULL },
	{ "", "Read our blog: https://blog.example.com/posts/how-we-built-auth", N, NULL },
	{ "", "Unsubscribe: https://example.com/unsubscribe?token=8f3a91c2b7d44e0a1f2b", N, NULL },
	{ "Sign in", "Sign in: https://a.example.com/login?t=8f3a91c2b7d44e0a1f2b\nSign in: https://b.example.com/login?t=1f3a91c2b7d44e0a1f2c", N, NULL },
	{ "Your code", "Your code is 482913.\nOr sign in: https://example.com/login?t=8f3a91c2b7d44e0a1f2b", C, "482913" },
	{ "Sign in", "Sign in: https://example.com/login?t=8f3a91c2b7d44e0a1f2b\nSign in: https://example.com/login?t=8f3a91c2b7d44e0a1f2b", L, "https://example.com/login?t=8f3a91c2b7d44e0a1f2b" },
};

/* Runs one {subject, text} case; says on stderr where it failed.  Returns 1 on failure. */
static int
run_case(const char *what, gsize i, const struct dcase *tc, const GPtrArray *links)
{
	struct detection d = { DETECT_NONE, NULL };
	int bad = 0;

	detect_code(tc->subject, tc->text, links, &d);
	if (d.kind != tc->kind || g_strcmp0(d.value, tc->value) != 0) {
		g_printerr("# %s case %zu: subject \"%s\" text \"%s\": got %d \"%s\", "
		    "want %d \"%s\"\n", what, i, tc->subject, tc->text, d.kind,
		    d.value ? d.value : "(null)", tc->kind,
		    tc->value ? tc->value : "(null)");
		bad = 1;
	}
	detection_clear(&d);
	g_assert_null(d.value);
	g_assert_cmpint(d.kind, ==, DETECT_NONE);
	return bad;
}

/* Runs a table of cases; every case is tried before the test fails. */
static void
run_table(const char *what, const struct dcase *cases, gsize n)
{
	gsize i;
	int bad = 0;

	for (i = 0; i < n; i++)
		bad += run_case(what, i, &cases[i], NULL);
	g_assert_cmpint(bad, ==, 0);
}

static void
test_codes(void)
{
	run_table("code", code_cases, G_N_ELEMENTS(code_cases));
}

static void
test_decoys(void)
{
	run_table("decoy", decoy_cases, G_N_ELEMENTS(decoy_cases));
}

static void
test_text_links(void)
{
	run_table("text link", textlink_cases, G_N_ELEMENTS(textlink_cases));
}

/* ---- magic links from the HTML part ------------------------------------- */

struct lcase {
	const char *subject;
	const char *text;
	const char *links[4][2];   /* {url, anchor text}, ends at a NULL url */
	enum detect_kind kind;
	const char *value;
};

static const struct lcase link_cases[] = {
	{ "Sign in to Slack", "Click the button to sign in.",
	    { { "https://slack.com/z-app-4821-8f3a91c2b7d44e0a1f2b", "Sign in to Slack" },
	      { "https://slack.com/help", "Help" },
	      { "https://slack.com/unsubscribe?u=8f3a91c2b7d44e0a1f2b", "Unsubscribe" } },
	    L, "https://slack.com/z-app-4821-8f3a91c2b7d44e0a1f2b" },
	{ "Your login link", "",
	    { { "https://app.example.com/magic?token=8f3a91c2b7d44e0a1f2b", "Log in" } },
	    L, "https://app.example.com/magic?token=8f3a91c2b7d44e0a1f2b" },
	{ "Bestätige deine E-Mail", "",
	    { { "https://example.de/x/8f3a91c2b7d44e0a1f2b", "E-Mail bestätigen" },
	      { "https://example.de/datenschutz", "Datenschutz" } },
	    L, "https://example.de/x/8f3a91c2b7d44e0a1f2b" },
	{ "Connexion", "",
	    { { "https://exemple.fr/auth/8f3a91c2b7d44e0a1f2b", "Se connecter" } },
	    L, "https://exemple.fr/auth/8f3a91c2b7d44e0a1f2b" },
	{ "ログイン", "",
	    { { "https://example.jp/l/8f3a91c2b7d44e0a1f2b", "ログインする" } },
	    L, "https://example.jp/l/8f3a91c2b7d44e0a1f2b" },
	{ "登录", "",
	    { { "https://example.cn/l/8f3a91c2b7d44e0a1f2b", "点击登录" } },
	    L, "https://example.cn/l/8f3a91c2b7d44e0a1f2b" },
	/* the anchor beats the path alone */
	{ "Sign in", "",
	    { { "https://t.example.com/c/8f3a91c2b7d44e0a1f2b", "Sign in now" },
	      { "https://example.com/verify?token=1f3a91c2b7d44e0a1f2c", "" } },
	    L, "https://t.example.com/c/8f3a91c2b7d44e0a1f2b" },
	/* two of equal standing */
	{ "Sign in", "",
	    { { "https://a.example.com/c/8f3a91c2b7d44e0a1f2b", "Sign in" },
	      { "https://b.example.com/c/1f3a91c2b7d44e0a1f2c", "Log in" } },
	    N, NULL },
	/* the same URL twice is one link */
	{ "Sign in", "",
	    { { "https://a.example.com/c/8f3a91c2b7d44e0a1f2b", "Sign in" },
	      { "https://a.example.com/c/8f3a91c2b7d44e0a1f2b", "https://a.example.com/c/8f3a91c2b7d44e0a1f2b" } },
	    L, "https://a.example.com/c/8f3a91c2b7d44e0a1f2b" },
	/* never unsubscribe, privacy, help, reset, a pixel, mailto */
	{ "Newsletter", "",
	    { { "https://example.com/unsubscribe?token=8f3a91c2b7d44e0a1f2b", "Unsubscribe" },
	      { "https://example.com/privacy?token=8f3a91c2b7d44e0a1f2b", "Privacy" },
	      { "https://t.example.com/open/pixel.gif?token=8f3a91c2b7d44e0a1f2b", "" },
	      { "mailto:login@example.com", "Log in" } },
	    N, NULL },
	{ "Reset your password", "",
	    { { "https://example.com/password/reset?token=8f3a91c2b7d44e0a1f2b", "Reset password" } },
	    N, NULL },
	{ "Weekly digest", "Top stories this week.",
	    { { "https://example.com/article/8f3a91c2b7d44e0a1f2b", "Read more" } },
	    N, NULL },
	/* a generic login page carries no secret */
	{ "Notification", "",
	    { { "https://github.com/login", "Sign in" } },
	    N, NULL },
	/* a new-sign-in alert's button says nothing of signing in: no link,
	 * however sign-in-ish its URL (otp in an address, a long number) */
	{ "Security alert", "We noticed a new sign-in to your Google Account.",
	    { { "https://accounts.example.com/AccountChooser?Email=bot@otp.example.com&continue=https://myaccount.example.com/alert/nt/1716372000000?eid%3D-4728831150238201457", "Check activity" } },
	    N, NULL },
	/* a 12-character token that mixes letters and digits is a secret */
	{ "Sign in to Medium", "",
	    { { "https://medium.com/m/callback/email?token=4c2b9e7f1a3d&operation=login", "Sign in to Medium" } },
	    L, "https://medium.com/m/callback/email?token=4c2b9e7f1a3d&operation=login" },
	/* a 13-digit timestamp is not */
	{ "Sign in", "",
	    { { "https://example.com/c/1716372000000", "Sign in" } },
	    N, NULL },
	/* a code wins over a link */
	{ "Your code", "Your code is 482913",
	    { { "https://example.com/magic?token=8f3a91c2b7d44e0a1f2b", "Sign in" } },
	    C, "482913" },
	/* two different codes: nothing, not the link */
	{ "Your codes", "Code: 482913\nCode: 551209",
	    { { "https://example.com/magic?token=8f3a91c2b7d44e0a1f2b", "Sign in" } },
	    N, NULL },
};

static void
test_links(void)
{
	gsize i;
	int j, bad = 0;

	for (i = 0; i < G_N_ELEMENTS(link_cases); i++) {
		const struct lcase *lc = &link_cases[i];
		GPtrArray *links = g_ptr_array_new_with_free_func(link_free);
		struct dcase tc = { lc->subject, lc->text, lc->kind, lc->value };

		for (j = 0; j < 4 && lc->links[j][0] != NULL; j++) {
			struct link *l = g_new0(struct link, 1);

			l->url = g_strdup(lc->links[j][0]);
			l->text = g_strdup(lc->links[j][1]);
			g_ptr_array_add(links, l);
		}
		bad += run_case("link", i, &tc, links);
		g_ptr_array_unref(links);
	}
	g_assert_cmpint(bad, ==, 0);
}

/* ---- robustness ---------------------------------------------------------- */

/* NULL strings, NULL link fields, odd characters: never a crash. */
static void
test_odd_input(void)
{
	static const char *const texts[] = {
		"", " ", "\n\n\n", "0", "1234", "12345678901234567890",
		"-", "---", "code", "code:", ":", "\xef\xbf\xbd\xef\xbf\xbd",
		"\xe2\x80\x8b\xe2\x80\x8b\xe2\x80\x8b", "\xcc\x81\xcc\x81 code \xcc\x81",
		"Code: \xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95\xef\xbc\x96",
		"http://", "https://", "www.", "https://x", "@@@@", "####",
		"1 2 3 4 5 6 7 8 9 0 1 2 3 4", "A-B-C-D-E-F-1-2-3",
		"\xff\xfe\xfd code 123456 \xc3",  /* invalid UTF-8 despite the contract */
	};
	GPtrArray *links = g_ptr_array_new_with_free_func(link_free);
	struct link *l = g_new0(struct link, 1);
	struct detection d = { DETECT_NONE, NULL };
	gsize i;

	g_ptr_array_add(links, l);   /* url and text NULL */
	l = g_new0(struct link, 1);
	l->url = g_strdup("https://");
	g_ptr_array_add(links, l);
	for (i = 0; i < G_N_ELEMENTS(texts); i++) {
		detect_code(texts[i], texts[i], links, &d);
		detection_clear(&d);
		detect_code(NULL, texts[i], NULL, &d);
		detection_clear(&d);
		detect_code(texts[i], NULL, NULL, &d);
		detection_clear(&d);
	}
	detect_code(NULL, NULL, NULL, &d);
	g_assert_cmpint(d.kind, ==, DETECT_NONE);
	detection_clear(&d);
	detection_clear(NULL);
	g_ptr_array_unref(links);

	/* only digits: no keyword, no code */
	detect_code("", "1234567812345678 4821 482913 48291377", NULL, &d);
	g_assert_cmpint(d.kind, ==, DETECT_NONE);
	detection_clear(&d);
}

/* value, a code, occurs in text once the separators a code may be
 * written with (blanks, '-', '.') are taken out of both. */
static gboolean
junk_in_text(const char *value, const char *text)
{
	GString *t = g_string_new(NULL), *v = g_string_new(NULL);
	gboolean found;

	for (const char *p = text; *p != '\0'; p++)
		if (strchr(" \t\r\n-.", *p) == NULL)
			g_string_append_c(t, *p);
	for (const char *p = value; *p != '\0'; p++)
		if (strchr(" \t\r\n-.", *p) == NULL)
			g_string_append_c(v, *p);
	found = v->len > 0 && strstr(t->str, v->str) != NULL;
	g_string_free(t, TRUE);
	g_string_free(v, TRUE);
	return found;
}

/*
 * Pseudo-random bytes made valid UTF-8, NUL-free: no crash, and no code
 * out of thin air.  Odd rounds are bytes alone: nothing there reads as a
 * code, so the detector says DETECT_NONE.  Even rounds mix in the words
 * and digit runs a code mail has, so the detector does find codes in
 * some; each one it finds must be in the text (separators aside), never
 * made up.  The count of codes found keeps the second check from
 * passing on no input.
 */
static const char *const junk_words[] = {
	"Your ", "code", " is ", "verification ", "PIN", ": ", "\n\n", " ",
	"sign-in ", "G-", "security ", "expires", "4821", "482913", "12 34",
	"-56", "7.7", "2024", "88412003", "0", "99", "Use ", " to sign in",
};

static void
test_junk(void)
{
	GRand *r = g_rand_new_with_seed(4242);
	int round, found = 0;

	for (round = 0; round < 400; round++) {
		GString *s = g_string_new(NULL);
		struct detection d = { DETECT_NONE, NULL };
		char *valid;
		int i, len = g_rand_int_range(r, 0, 4096);

		for (i = 0; i < len; i++) {
			if (round % 2 == 0 && g_rand_int_range(r, 0, 8) == 0) {
				const char *w = junk_words[g_rand_int_range(r, 0,
				    G_N_ELEMENTS(junk_words))];

				g_string_append(s, w);
				i += (int)strlen(w);
				continue;
			}
			g_string_append_c(s, (char)g_rand_int_range(r, 1, 256));
		}
		valid = g_utf8_make_valid(s->str, s->len);
		detect_code("", valid, NULL, &d);
		if (round % 2 == 1 && d.kind != DETECT_NONE)
			g_test_fail_printf("round %d: bytes alone read as a code: %s",
			    round, d.value);
		g_assert_cmpint(d.kind, !=, DETECT_LINK);
		if (d.kind == DETECT_CODE) {
			g_assert_nonnull(d.value);
			if (!junk_in_text(d.value, valid))
				g_test_fail_printf("round %d: code %s is not in the text",
				    round, d.value);
			found++;
		}
		detection_clear(&d);
		g_free(valid);
		g_string_free(s, TRUE);
	}
	g_rand_free(r);
	g_test_message("codes found in the mixed rounds: %d", found);
	g_assert_cmpint(found, >=, 10);
}

/* A 512 KiB body: bounded work, the code near the top still found. */
static void
test_huge(void)
{
	GString *s = g_string_new("Your verification code is 482913.\n");
	GPtrArray *links = g_ptr_array_new_with_free_func(link_free);
	struct detection d = { DETECT_NONE, NULL };
	gint64 t0;
	int i;

	while (s->len < 512 * 1024)
		g_string_append(s, "Lorem 2024 ipsum $19.99 code 12:30 https://x.example/4821 "
		    "dolor 1 2 3 4 sit amet KXR-4T9 amet 12 34 56 78 90\n");
	for (i = 0; i < 1000; i++) {
		struct link *l = g_new0(struct link, 1);

		l->url = g_strdup_printf("https://example.com/login?t=%d8f3a91c2b7d44e0a1f2b", i);
		l->text = g_strdup("Sign in");
		g_ptr_array_add(links, l);
	}
	t0 = g_get_monotonic_time();
	detect_code(s->str, s->str, links, &d);
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 30 * G_USEC_PER_SEC);
	g_assert_cmpint(d.kind, ==, DETECT_CODE);
	g_assert_cmpstr(d.value, ==, "482913");
	detection_clear(&d);

	/* one line of 512 KiB without a newline */
	g_string_truncate(s, 0);
	while (s->len < 512 * 1024)
		g_string_append(s, "code 4821 ");
	detect_code("", s->str, links, &d);
	detection_clear(&d);

	/* a long URL and long words */
	g_string_truncate(s, 0);
	g_string_append(s, "Sign in: https://example.com/login?t=");
	while (s->len < 64 * 1024)
		g_string_append(s, "Ab1");
	detect_code("Sign in", s->str, NULL, &d);
	g_assert_cmpint(d.kind, ==, DETECT_NONE);
	detection_clear(&d);

	g_string_free(s, TRUE);
	g_ptr_array_unref(links);
}

/* A code as it is pushed: the detector's normalisation, for filter captures too. */
static void
test_normalize(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "482913", "482913" },
		{ "482-913", "482913" },
		{ "12-34-56", "123456" },
		{ "12.34.56", "123456" },
		{ "G-123456", "123456" },
		{ "FB-12345", "12345" },
		{ "KXR-4T9", "KXR-4T9" },
		{ "FKW-RQZ", "FKW-RQZ" },
		{ "ABCD-123456", "ABCD-123456" },
		{ "G-123", "G-123" },
		{ "12.99", "12.99" },
		{ "1.2.3.4", "1.2.3.4" },
		{ "123-456-789", "123-456-789" },
		{ "482--913", "482--913" },
		{ "-482913", "-482913" },
		{ "482913-", "482913-" },
		{ "12-34.56", "12-34.56" },
		{ "a4k9zq", "a4k9zq" },
		{ "", "" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = detect_normalize(cases[i].in);

		g_assert_cmpstr(got, ==, cases[i].out);
	}
}

/* Every lexicon word is stored as the detector folds the text it reads. */
static void
test_lexicon_folded(void)
{
	char f[64];

	for (gsize i = 0; i < lexicon_nwords; i++) {
		const struct lexicon_entry *e = &lexicon_words[i];

		g_assert_cmpuint(e->len, ==, strlen(e->w));
		detect_fold_word(e->w, f, sizeof f);
		if (strcmp(f, e->w) != 0)
			g_test_message("lexicon word \"%s\" folds to \"%s\"", e->w, f);
		g_assert_cmpstr(f, ==, e->w);
	}
	for (gsize i = 0; i < lexicon_nphrases; i++)
		g_assert_cmpuint(lexicon_phrases[i].len, ==, strlen(lexicon_phrases[i].w));
	/* the folding the entries rely on */
	detect_fold_word("ΕΠΑΛΉΘΕΥΣΗΣ", f, sizeof f);
	g_assert_cmpstr(f, ==, "επαληθευσησ");
	detect_fold_word("thực", f, sizeof f);
	g_assert_cmpstr(f, ==, "thuc");
	detect_fold_word("folosește", f, sizeof f);
	g_assert_cmpstr(f, ==, "foloseste");
	detect_fold_word("تأیید", f, sizeof f);
	g_assert_cmpstr(f, ==, "تاييد");
	detect_fold_word("कोड", f, sizeof f);
	g_assert_cmpstr(f, ==, "कोड");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/detect/codes", test_codes);
	g_test_add_func("/detect/decoys", test_decoys);
	g_test_add_func("/detect/text-links", test_text_links);
	g_test_add_func("/detect/links", test_links);
	g_test_add_func("/detect/odd-input", test_odd_input);
	g_test_add_func("/detect/junk", test_junk);
	g_test_add_func("/detect/huge", test_huge);
	g_test_add_func("/detect/normalize", test_normalize);
	g_test_add_func("/detect/lexicon-folded", test_lexicon_folded);
	return g_test_run();
}
