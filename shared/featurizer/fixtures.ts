/**
 * Sample raw messages, the nasty ones included, shared by the Node featurizer tests and the edge's workerd skew
 * test. Both featurize every fixture with the config stored in expected-ids.json and must produce exactly the
 * ids stored there (compacted with `compactIds`). Plain data and Web APIs only: importable in workerd.
 */

export interface FeaturizerFixture {
  name: string;
  raw: string | Uint8Array;
}

/** A deterministic byte string of `n` pseudo-random code units in [0, 255] (NULs and control chars included). */
function garbage(n: number, seed: number): string {
  let a = seed >>> 0;
  let out = '';
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out += String.fromCharCode(a >>> 24);
  }
  return out;
}

const HAM = `From rssfeeds@example.com  Mon Sep 23 12:00:00 2002
Return-Path: <alice@lists.example.org>
Received: from mail.example.org (mail.example.org [10.0.0.1])
\tby mx.example.com (Postfix) with ESMTP id 1234
\tfor <bob@example.com>; Mon, 23 Sep 2002 12:00:00 +0100 (IST)
From: Alice Example <alice@lists.example.org>
To: bob@example.com
Subject: Re: [dev] build is broken again on the main branch
In-Reply-To: <20020923110000.GA1234@example.org>
References: <20020923110000.GA1234@example.org>
Message-ID: <20020923120000.GB5678@example.org>
Date: Mon, 23 Sep 2002 12:00:00 +0100
User-Agent: Mutt/1.4i
List-Id: Developers <dev.lists.example.org>
Precedence: bulk

On Mon, Sep 23, 2002 at 11:00:00AM +0100, Bob wrote:
> The nightly build fails in the linker step.

It is the new flag in Makefile.am; I reverted it in revision 1234.
See http://cvs.example.org/viewcvs/project/Makefile.am for the diff.

Alice
`;

const SPAM_HTML_QP = `From: "Best Deals" <deals4you123@offers.example.biz>
To: undisclosed-recipients:;
Subject: =?iso-8859-1?Q?FREE_V=EDagra_=2D_Act_NOW!!!?=
Date: Wed, 21 Aug 2002 20:31:57 -1600
MIME-Version: 1.0
Message-ID: <0103c1042001882DD_IT7@dd_it7>
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable
X-Priority: 3
X-MSMail-Priority: Normal

<html><body bgcolor=3D"#ffffff"><!-- hidden comment -->
<p><font size=3D"4">EARN $5,000 A WEEK from home&nbsp;&#33;</font></p>
<a href=3D"http://203.0.113.7/cgi-bin/click?id=3D42">CLICK HERE</a> or visit
<a href=3D"http://www.cheap-pills.example.ru/order">www.cheap-pills.example.ru</a>
<img src=3D"http://images.example.ru/banner.gif">
<p>To be removed from our list, reply with REMOVE in the subject.</p>
</body></html>
`;

const MULTIPART = `From: =?utf-8?B?SsO8cmdlbiBNw7xsbGVy?= <jm@example.de>
To: team@example.com
Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen_=F0=9F=8D=BA?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a multi-part message in MIME format.
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

R3LDvMOfZSwgZGFzIFRyZWZmZW4gaXN0IGFtIERvbm5lcnN0YWcgdW0gMTAgVWhyLgo=
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PHA+R3LDvMOfZSwgZGFzIFRyZWZmZW4gaXN0IGFtIDxiPkRvbm5lcnN0YWc8L2I+IHVtIDEwIFVoci48L3A+Cg==
--inner--
--outer
Content-Type: application/octet-stream; name="invoice.exe"
Content-Transfer-Encoding: base64

TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--outer--
`;

/** A text part declared UTF-8 whose base64 bytes are not valid UTF-8 (exercises TextDecoder's replacement). */
const BAD_UTF8_PART = `From: x@example.com
Subject: bytes
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

/9j/4AAQSkZJRmFjdG9yeSDDKCDigqggZXVybyDwn5iA
`;

const CP1252 = `From: shop@example.com
Subject: =?windows-1252?Q?=93Special=94_offer_=96_50=80_off?=
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: quoted-printable

Only today: =93premium=94 watches for 50=80 =96 order now=85
`;

export const FEATURIZER_FIXTURES: readonly FeaturizerFixture[] = [
  { name: 'empty', raw: '' },
  { name: 'whitespace-only', raw: ' \r\n\t\n ' },
  { name: 'plain-text', raw: 'Hi Bob, are we still on for lunch tomorrow at 12:30? Cheers, Alice' },
  { name: 'ham-with-headers', raw: HAM },
  { name: 'spam-html-quoted-printable', raw: SPAM_HTML_QP },
  { name: 'multipart-base64-utf8-attachment', raw: MULTIPART },
  { name: 'windows-1252', raw: CP1252 },
  { name: 'headers-only', raw: 'From: someone@example.com\nTo: you@example.com\nSubject: no body at all' },
  {
    name: 'html-only',
    raw: '<html><head><style>p{color:red}</style></head><body><p>Click <a href="http://x.example.com/buy">here</a>&nbsp;for a &quot;free&quot; gift&#33;</p><script>alert(1)</script></body></html>',
  },
  { name: 'binary-garbage', raw: garbage(4096, 7) },
  {
    name: 'invalid-utf8-bytes',
    raw: Uint8Array.from([
      0x53, 0x75, 0x62, 0x6a, 0x65, 0x63, 0x74, 0x3a, 0x20, 0xff, 0xfe, 0x68, 0x69, 0x0a, 0x0a, 0xc3, 0x28,
      0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0x20, 0x6f, 0x6b, 0x20, 0xed, 0xa0, 0x80, 0x21,
    ]),
  },
  { name: 'invalid-utf8-in-base64-part', raw: BAD_UTF8_PART },
  { name: 'lone-surrogates', raw: 'Subject: \ud800 broken \udfff pairs\n\nbody \udc00 text \ud83d' },
  {
    name: 'non-latin-scripts',
    raw: '特价商品 今天 只要 99元 点击 http://例子.测试/购买 — Привет, мир! مرحبا بالعالم',
  },
  { name: 'mbox-from-line-only', raw: 'From nobody Mon Jan  1 00:00:00 2001' },
  {
    name: 'huge-message',
    raw: `From: big@example.com\nSubject: huge\n\n${'lorem ipsum dolor sit amet consectetur 12345 '.repeat(60000)}`,
  },
  {
    name: 'folded-headers-crlf',
    raw: 'From: "Folded\r\n Name" <f@example.com>\r\nSubject: a subject\r\n  folded over\r\n\tthree lines\r\nX-Mailer: Microsoft Outlook Express 6.00.2600.0000\r\n\r\nbody with CRLF\r\nlines\r\n',
  },
];

/** Ids without their trailing padding (compact JSON); `expandIds` restores them. */
export function compactIds(ids: Int32Array): number[] {
  let end = ids.length;
  while (end > 0 && ids[end - 1] === 0) end--;
  return Array.from(ids.subarray(0, end));
}

/** The full-length ids from a compacted list. */
export function expandIds(compact: readonly number[], maxLength: number): Int32Array {
  const out = new Int32Array(maxLength);
  out.set(compact.slice(0, maxLength));
  return out;
}
