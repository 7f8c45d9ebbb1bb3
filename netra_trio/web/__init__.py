"""The web page's static files (``index.html``, ``app.js``, ``markdown.js``,
``style.css``, ``favicon.svg``) and the browser client ``netra.js``, served
as they are by ``server/web_page.py``: no build step, no dependencies."""
