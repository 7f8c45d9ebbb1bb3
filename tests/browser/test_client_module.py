"""The browser client and the markdown renderer, run in Chromium as the page
loads them: their pure parts (``import('/static/...')`` on the server's own
origin), and the client's resume and deduplication against a scripted peer
that repeats what a real server never would."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import jwt
import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from tests.browser.scripted_peer import ScriptedPeer, event, send
from tests.browser.support import Browser, page_url
from tests.helpers import SECRET, start_server

TEST_S = 60


async def loaded(browser: Browser, nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    await browser.open(page_url(server, None))  # the page, connected to nothing


async def test_backoff_doubles_to_its_cap_with_jitter_between_half_and_all(
    nursery: trio.Nursery, browser: Browser
) -> None:
    with trio.fail_after(TEST_S):
        await loaded(browser, nursery)
        delays: dict[str, Any] = await browser.module(
            """
            const { backoffDelay } = await import('/static/netra.js');
            const range = [...Array(10).keys()];
            return {
              low: range.map(n => backoffDelay(n, {}, () => 0)),
              high: range.map(n => backoffDelay(n, {}, () => 1)),
              custom: backoffDelay(3, {initialDelayMs: 100, factor: 3, maxDelayMs: 60000}, () => 1),
              huge: backoffDelay(5000, {}, () => 1),
            };
            """
        )
    ceilings = [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000, 15000]
    assert delays["high"] == ceilings
    assert delays["low"] == [c // 2 for c in ceilings]
    assert delays["custom"] == 2700
    assert delays["huge"] == 15000


async def test_token_expiry_is_read_from_the_token_without_verifying_it(
    nursery: trio.Nursery, browser: Browser
) -> None:
    exp = int(time.time()) + 600
    token = jwt.encode({"sub": "alice", "exp": exp, "name": "Zoë ✓"}, SECRET)
    with trio.fail_after(TEST_S):
        await loaded(browser, nursery)
        read = await browser.module(
            f"""
            const {{ tokenExpiry }} = await import('/static/netra.js');
            return [tokenExpiry('{token}'), tokenExpiry('not.a-token'), tokenExpiry(''),
                    tokenExpiry('a.' + btoa(JSON.stringify({{sub: 'x'}})) + '.b')];
            """
        )
    assert read == [exp, None, None, None]


MARKDOWN = """\
# Title with `code`

First line
second line with **bold**, *emphasis*, _emphasis_ and snake_case_name.

| model | cost | change |
|:---|---:|:---:|
| gpt-4o | $1,000.00 | **-60%** |
| a \\| b | 2 | |

1. one
2. two
   continued

- [a link](https://example.com/x?y=1)
- [bad](javascript:alert(1)) ~~old~~

> quoted *text*

```python
if a < b: print("<b>")
```

---
\\*not emphasis\\*"""

RENDERED = (
    "<h1>Title with <code>code</code></h1>"
    "<p>First line<br>second line with <strong>bold</strong>, <em>emphasis</em>,"
    " <em>emphasis</em> and snake_case_name.</p>"
    '<table><thead><tr><th class="align-left">model</th><th class="align-right">cost</th>'
    '<th class="align-center">change</th></tr></thead>'
    '<tbody><tr><td class="align-left">gpt-4o</td><td class="align-right">$1,000.00</td>'
    '<td class="align-center"><strong>-60%</strong></td></tr>'
    '<tr><td class="align-left">a | b</td><td class="align-right">2</td>'
    '<td class="align-center"></td></tr></tbody></table>'
    "<ol><li>one</li><li>two<br>continued</li></ol>"
    '<ul><li><a href="https://example.com/x?y=1" rel="noopener noreferrer nofollow"'
    ' target="_blank">a link</a></li>'
    "<li>bad (javascript:alert(1)) <del>old</del></li></ul>"
    "<blockquote><p>quoted <em>text</em></p></blockquote>"
    '<pre><code data-lang="python">if a &lt; b: print("&lt;b&gt;")</code></pre>'
    "<hr><p>*not emphasis*</p>"
)


async def test_the_markdown_subset_renders_as_dom_nodes(
    nursery: trio.Nursery, browser: Browser
) -> None:
    with trio.fail_after(TEST_S):
        await loaded(browser, nursery)
        html = await browser.module(
            """
            const { renderMarkdown } = await import('/static/markdown.js');
            const box = document.createElement('div');
            box.append(renderMarkdown(arguments[0]));
            return box.innerHTML;
            """.replace("arguments[0]", repr(MARKDOWN))
        )
    assert html == RENDERED


# a token the client can read (it is never verified here): {"exp": 9999999999}
READABLE_TOKEN = "x.eyJleHAiOjk5OTk5OTk5OTl9.y"


async def test_the_client_resumes_and_delivers_each_seq_once_in_order(
    nursery: trio.Nursery, browser: Browser
) -> None:
    """Against a peer that repeats seqs and replays what was delivered: each
    seq reaches the application once, in order; the second connection names
    the session and resumes after the last seq delivered; replies resolve
    (or reject) the request they correlate with. The page is of another
    origin than the server, and imports netra.js from it."""

    async def first(ws: WebSocketConnection, peer: ScriptedPeer) -> None:
        for seq in (1, 2, 2, 1, 3):
            await send(ws, event(seq))
        await send(ws, {"type": "batch", "payload": {"messages": [event(3), event(4)]}})
        await ws.aclose(1001)

    async def second(ws: WebSocketConnection, peer: ScriptedPeer) -> None:
        for seq in (4, 5):
            await send(ws, event(seq))
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = orjson.loads(await ws.get_message())
                reply: dict[str, Any] = {"correlation_id": frame["message_id"]}
                if frame["type"] == "ping":
                    reply |= {"type": "pong", "payload": frame["payload"]}
                else:
                    reply |= {"type": "error", "payload": {"code": "UNKNOWN_TYPE", "message": "no"}}
                await send(ws, reply)

    with trio.fail_after(TEST_S):
        server = await start_server(nursery)
        peer: ScriptedPeer = await nursery.start(ScriptedPeer([first, second]).serve)
        await browser.open(peer.page_url)
        result = await browser.module(
            f"""
            const {{ NetraClient }} = await import('{page_url(server, None)}static/netra.js');
            const client = new NetraClient('{peer.ws_url}',
                                           {{token: '{READABLE_TOKEN}', initialDelayMs: 20}});
            const seen = [];
            const states = [];
            client.addEventListener('frame',
                (e) => {{ if (e.detail.seq) seen.push(e.detail.seq); }});
            client.addEventListener('statechange', (e) => states.push(e.detail.state));
            const fifth = new Promise((resolve) => client.addEventListener('agent_thinking',
                (e) => {{ if (e.detail.seq === 5) resolve(); }}));
            client.connect();
            await fifth;
            const pong = await client.request('ping', {{n: 1}});
            let refused = null;
            try {{ await client.request('nonsense'); }}
            catch (e) {{ refused = [e.name, e.code, e.message]; }}
            client.close();
            return {{seen, states, pong: pong.payload, refused, duplicates: client.stats.duplicates,
                     lastSeq: client.lastSeq, sessionId: client.sessionId}};
            """
        )
    assert result == {
        "seen": [1, 2, 3, 4, 5],
        "states": ["connecting", "open", "reconnecting", "connecting", "open", "closed"],
        "pong": {"n": 1},
        "refused": ["NetraError", "UNKNOWN_TYPE", "no"],
        "duplicates": 4,
        "lastSeq": 5,
        "sessionId": "s-scripted",
    }
    assert peer.paths == ["/ws", "/ws?session_id=s-scripted"]
    assert peer.first_frames == [
        {"type": "resume", "payload": {"last_seq": 0}},
        {"type": "resume", "payload": {"last_seq": 4}},
    ]


async def test_get_token_is_asked_for_a_token_before_each_connection(
    nursery: trio.Nursery, browser: Browser
) -> None:
    """A 1008 close (what the server does when a token expires) with
    ``getToken``: the client asks for a new token and connects with it."""

    async def expire(ws: WebSocketConnection, peer: ScriptedPeer) -> None:
        await ws.aclose(1008)

    async def stay(ws: WebSocketConnection, peer: ScriptedPeer) -> None:
        await send(ws, event(1))
        with contextlib.suppress(ConnectionClosed):
            await ws.get_message()

    with trio.fail_after(TEST_S):
        server = await start_server(nursery)
        peer: ScriptedPeer = await nursery.start(ScriptedPeer([expire, stay]).serve)
        await browser.open(peer.page_url)
        asked = await browser.module(
            f"""
            const {{ NetraClient }} = await import('{page_url(server, None)}static/netra.js');
            let asked = 0;
            const getToken = async () => '{READABLE_TOKEN}' + (++asked);
            const client = new NetraClient('{peer.ws_url}', {{getToken, initialDelayMs: 20}});
            const first = new Promise((done) => client.addEventListener('agent_thinking', done));
            client.connect();
            await first;
            client.close();
            return asked;
            """
        )
    assert asked == 2
    assert peer.subprotocols == [
        ["netra.v1", f"bearer.{READABLE_TOKEN}1"],
        ["netra.v1", f"bearer.{READABLE_TOKEN}2"],
    ]
