"""The browser client's and the markdown renderer's pure parts, run in
Chromium as the page loads them (``import('/static/...')`` on the server's
own origin)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import trio

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
