# -*- coding: utf-8 -*-
"""Helpers shared by the corpus generator: raw mail bytes as real mailers write them."""
import base64, quopri, hashlib, json, os, random

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TO = "bot@otp.example.com"
DATES = ["Mon, 03 Jun 2024 08:14:22 +0000", "Tue, 04 Jun 2024 17:02:51 +0200",
         "Wed, 05 Jun 2024 11:40:09 +0300", "Thu, 06 Jun 2024 06:55:37 +0900",
         "Fri, 07 Jun 2024 21:18:44 -0400", "Sat, 08 Jun 2024 13:27:03 +0100"]

def enc_word(s, charset, kind="B"):
    """RFC 2047 encoded words for s (split so each word stays short)."""
    if all(ord(ch) < 128 for ch in s):
        return s
    pycs = PYCS.get(charset.lower(), charset)
    if charset.lower() == "iso-2022-jp":
        b = s.encode(pycs)
        return "=?ISO-2022-JP?B?" + base64.b64encode(b).decode() + "?="
    words, cur = [], ""
    for ch in s:
        if len((cur + ch).encode(pycs)) > 36:
            words.append(cur); cur = ""
        cur += ch
    if cur:
        words.append(cur)
    out = []
    for w in words:
        b = w.encode(pycs)
        if kind == "B":
            out.append("=?%s?B?%s?=" % (charset, base64.b64encode(b).decode()))
        else:
            q = "".join(chr(c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122)
                        else ("_" if c == 32 else "=%02X" % c) for c in b)
            out.append("=?%s?Q?%s?=" % (charset, q))
    return "\r\n ".join(out) if len(out) > 1 else out[0]

PYCS = {"koi8-r": "koi8_r", "koi8-u": "koi8_u", "windows-1251": "cp1251", "iso-8859-2": "iso8859_2",
        "windows-1254": "cp1254", "iso-8859-7": "iso8859_7", "windows-1256": "cp1256",
        "windows-1255": "cp1255", "tis-620": "tis_620", "euc-kr": "euc_kr", "shift_jis": "shift_jis",
        "iso-2022-jp": "iso2022_jp", "gb2312": "gb2312", "gbk": "gbk", "big5": "big5",
        "utf-8": "utf-8", "iso-8859-1": "latin-1", "iso-8859-15": "iso8859_15",
        "windows-1252": "cp1252", "us-ascii": "ascii", "windows-1250": "cp1250", "iso-8859-9": "iso8859_9"}

def body_bytes(text, charset, cte, nl="\r\n"):
    b = text.replace("\n", "\r\n").encode(PYCS[charset.lower()])
    if cte == "base64":
        e = base64.encodebytes(b).decode().replace("\n", "\r\n")
        return e.encode()
    if cte == "quoted-printable":
        # encode lines separately so CRLF stay hard line breaks
        lines = text.split("\n")
        out = []
        for ln in lines:
            q = quopri.encodestring(ln.encode(PYCS[charset.lower()])).decode()
            out.append(q.replace("\n", "\r\n").rstrip("\r\n") if q.endswith("\n") and not ln.endswith("\n") else q)
        return ("\r\n".join(out)).encode()
    return b

def part(ctype, charset, cte, text):
    h = "Content-Type: %s; charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n" % (ctype, charset, cte)
    return h.encode() + body_bytes(text, charset, cte) + b"\r\n"

def html_of(text, code=None):
    """A mailer's HTML rendering of the text: one <p> per paragraph, the code big."""
    paras = [p for p in text.split("\n\n")]
    out = ['<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
           '<style>td{font-family:Arial,sans-serif}.code{font-size:28px;letter-spacing:4px}</style></head>'
           '<body style="margin:0;background:#f4f4f4"><table role="presentation" width="100%" cellpadding="0" cellspacing="0">'
           '<tr><td align="center"><table width="600" style="background:#ffffff">']
    for p in paras:
        s = p.strip()
        if not s:
            continue
        if code is not None and s == code:
            out.append('<tr><td class="code" align="center" style="padding:16px"><strong>%s</strong></td></tr>' % s)
        else:
            out.append('<tr><td style="padding:8px 24px">%s</td></tr>' % s.replace("\n", "<br>\n"))
    out.append('</table></td></tr></table></body></html>')
    return "\n".join(out)

def mail(num, name, from_name, from_addr, subject, text, charset="utf-8", cte="quoted-printable",
         html=None, html_only=False, subj_cs=None, subj_kind="B", extra=None, to=TO, date_i=0,
         expect=None, html_charset=None, html_cte=None):
    dom = from_addr.split("@")[1]
    h = hashlib.sha256((name + from_addr).encode()).hexdigest()
    date = DATES[(num + date_i) % len(DATES)]
    subj_cs = subj_cs or charset
    fn = from_name
    if any(ord(c) > 127 for c in fn):
        fn = enc_word(fn, subj_cs, subj_kind)
    else:
        fn = '"%s"' % fn if any(c in fn for c in ",.()") else fn
    hdr = ("Return-Path: <bounce-%s@%s>\r\n" % (h[:8], dom) +
           "Delivered-To: %s\r\n" % to +
           # The MTA's own verdict above its Received:, where OpenDKIM puts it.
           "Authentication-Results: mx.otp.example.com;\r\n\tdkim=pass header.d=%s header.s=s1 header.b=%s;\r\n\tspf=pass smtp.mailfrom=%s;\r\n\tdmarc=pass header.from=%s\r\n"
           % (dom, h[20:28], dom, dom) +
           "Received: from mta%d.%s (mta%d.%s [198.51.100.%d])\r\n\tby mx.otp.example.com (Postfix) with ESMTPS id %s\r\n\tfor <%s>; %s\r\n"
           % (num % 9 + 1, dom, num % 9 + 1, dom, num % 200 + 20, h[8:19].upper(), to, date) +
           "Date: %s\r\n" % date +
           "From: %s <%s>\r\n" % (fn, from_addr) +
           "To: %s\r\n" % to +
           "Subject: %s\r\n" % enc_word(subject, subj_cs, subj_kind) +
           "Message-ID: <%s.%d@%s>\r\n" % (h[:24], num, dom) +
           "MIME-Version: 1.0\r\n").encode()
    hcs = html_charset or charset
    hcte = html_cte or cte
    if extra is None and html is None:
        raw = hdr + part("text/plain", charset, cte, text)
    elif html_only and extra is None:
        raw = hdr + part("text/html", hcs, hcte, html)
    else:
        bnd = "=_b%s" % h[30:46]
        parts = []
        if not html_only:
            parts.append(part("text/plain", charset, cte, text))
        if html is not None:
            parts.append(part("text/html", hcs, hcte, html))
        inner = b""
        if len(parts) > 1:
            ib = "=_a%s" % h[46:60]
            inner = ("Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n" % ib).encode()
            for p in parts:
                inner += ("--%s\r\n" % ib).encode() + p
            inner += ("--%s--\r\n" % ib).encode()
        else:
            inner = parts[0]
        if extra is None:
            raw = hdr + inner.replace(b"Content-Type: multipart/alternative", b"Content-Type: multipart/alternative", 1)
        else:
            raw = hdr + ("Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n" % bnd).encode()
            raw += ("--%s\r\n" % bnd).encode() + inner
            for e in extra:
                raw += ("--%s\r\n" % bnd).encode() + e
            raw += ("--%s--\r\n" % bnd).encode()
    base = "%03d-%s" % (num, name)
    with open(os.path.join(OUT, base + ".eml"), "wb") as f:
        f.write(raw)
    with open(os.path.join(OUT, base + ".json"), "w") as f:
        f.write(json.dumps(expect, separators=(",", ":"), ensure_ascii=False) + "\n")
    return base

def fwd(code, filt="fallback", ident=TO):
    return {"forward": True, "filter": filt, "reason": "code", "code": code,
            "push": {"totp_identifier": ident, "content": code, "source": "email"}}

def drop(filt="fallback", reason="no-code"):
    return {"forward": False, "filter": filt, "reason": reason, "code": None, "push": None}
