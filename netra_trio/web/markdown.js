// A small, safe markdown renderer: text in, DOM nodes out.
//
// It never parses HTML: every piece of the source ends up in a text node or
// an attribute set through the DOM (an href only when it is http:, https: or
// mailto:), so markup in the text is shown as the text it is.
//
// Blocks: ATX headings (#), paragraphs (a single newline is a line break),
// fenced code (```), lists (-, *, + and 1.), block quotes (>), tables (GFM,
// with the alignment row), and rules (---). Inline: `code`, **strong**,
// *emphasis* and _emphasis_ (not inside words), ~~strikethrough~~,
// [links](https://...), and backslash escapes.

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const FENCE = /^\s*(```+|~~~+)\s*([\w+-]*)\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const TABLE_ROW = /^\s*\|.*\|\s*$/;
const TABLE_RULE = /^\s*\|?(\s*:?-+:?\s*\|)+(\s*:?-+:?\s*)?\|?\s*$/;

const INLINE = new RegExp(
  [
    /\\([\\`*_{}[\]()#+\-.!|~>])/.source, // 1: an escaped character
    /(`+)([\s\S]*?[^`])\2(?!`)/.source, // 2, 3: code
    /\*\*(?=\S)([\s\S]*?\S)\*\*/.source, // 4: strong
    /__(?=\S)([\s\S]*?\S)__(?![A-Za-z0-9])/.source, // 5: strong
    /\*(?=[^\s*])([\s\S]*?[^\s*])\*/.source, // 6: emphasis
    /(?<![A-Za-z0-9_])_(?=[^\s_])([\s\S]*?[^\s_])_(?![A-Za-z0-9_])/.source, // 7: emphasis
    /~~(?=\S)([\s\S]*?\S)~~/.source, // 8: strikethrough
    /\[([^\]\n]+)\]\(\s*((?:[^()\s]|\([^()\s]*\))+)\s*\)/.source, // 9, 10: a link
  ].join("|"),
);

const SAFE_URL = /^(https?:|mailto:)/i;

/** The markdown `text` as a DocumentFragment of safe nodes. */
export function renderMarkdown(text, doc = document) {
  const fragment = doc.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      const close = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(close)) body.push(lines[i++]);
      i += 1; // the closing fence (or the end)
      const pre = el(doc, "pre");
      const code = el(doc, "code", body.join("\n"));
      if (m[2]) code.dataset.lang = m[2];
      pre.append(code);
      fragment.append(pre);
    } else if ((m = HEADING.exec(line))) {
      const heading = el(doc, `h${m[1].length}`);
      heading.append(inline(m[2], doc));
      fragment.append(heading);
      i += 1;
    } else if (RULE.test(line)) {
      fragment.append(el(doc, "hr"));
      i += 1;
    } else if (TABLE_ROW.test(line) && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      const rows = [line];
      const aligns = cells(lines[i + 1]).map(alignment);
      i += 2;
      while (i < lines.length && TABLE_ROW.test(lines[i])) rows.push(lines[i++]);
      fragment.append(table(rows, aligns, doc));
    } else if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        body.push(m[1]);
        i += 1;
      }
      const quote = el(doc, "blockquote");
      quote.append(renderMarkdown(body.join("\n"), doc));
      fragment.append(quote);
    } else if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = !BULLET.test(line);
      const pattern = ordered ? ORDERED : BULLET;
      const list = el(doc, ordered ? "ol" : "ul");
      if (ordered) {
        const start = Number(ORDERED.exec(line)[1]);
        if (start !== 1) list.start = start;
      }
      while (i < lines.length && (m = pattern.exec(lines[i]))) {
        const item = el(doc, "li");
        let content = ordered ? m[2] : m[1];
        i += 1;
        // lines indented under the item continue it
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !pattern.test(lines[i])) {
          content += "\n" + lines[i].trim();
          i += 1;
        }
        item.append(inline(content, doc));
        list.append(item);
      }
      fragment.append(list);
    } else {
      const body = [];
      while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) body.push(lines[i++]);
      const paragraph = el(doc, "p");
      paragraph.append(inline(body.join("\n"), doc));
      fragment.append(paragraph);
    }
  }
  return fragment;
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    BULLET.test(line) ||
    ORDERED.test(line) ||
    (TABLE_ROW.test(line) && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]))
  );
}

/** Inline markdown as a DocumentFragment; newlines become line breaks. */
export function inline(text, doc = document) {
  const fragment = doc.createDocumentFragment();
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      appendText(fragment, rest, doc);
      break;
    }
    appendText(fragment, rest.slice(0, m.index), doc);
    fragment.append(inlineNode(m, doc));
    rest = rest.slice(m.index + m[0].length);
  }
  return fragment;
}

function inlineNode(m, doc) {
  if (m[1] !== undefined) return doc.createTextNode(m[1]);
  if (m[3] !== undefined) return el(doc, "code", m[3].replace(/^ (.*) $/, "$1"));
  const nested = (tag, body) => {
    const node = el(doc, tag);
    node.append(inline(body, doc));
    return node;
  };
  if (m[4] !== undefined) return nested("strong", m[4]);
  if (m[5] !== undefined) return nested("strong", m[5]);
  if (m[6] !== undefined) return nested("em", m[6]);
  if (m[7] !== undefined) return nested("em", m[7]);
  if (m[8] !== undefined) return nested("del", m[8]);
  const [label, href] = [m[9], m[10]];
  if (!SAFE_URL.test(href)) return inline(`${label} (${href})`, doc);
  const link = nested("a", label);
  link.href = href;
  link.rel = "noopener noreferrer nofollow";
  link.target = "_blank";
  return link;
}

function appendText(parent, text, doc) {
  const parts = text.split("\n");
  parts.forEach((part, n) => {
    if (n > 0) parent.append(el(doc, "br"));
    if (part) parent.append(doc.createTextNode(part));
  });
}

function cells(row) {
  let body = row.trim();
  if (body.startsWith("|")) body = body.slice(1);
  if (body.endsWith("|") && !body.endsWith("\\|")) body = body.slice(0, -1);
  return body.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function alignment(rule) {
  const left = rule.startsWith(":");
  const right = rule.endsWith(":");
  if (left && right) return "center";
  if (right) return "right";
  return left ? "left" : null;
}

function table(rows, aligns, doc) {
  const node = el(doc, "table");
  const head = el(doc, "thead");
  const body = el(doc, "tbody");
  rows.forEach((row, n) => {
    const tr = el(doc, "tr");
    cells(row).forEach((cell, column) => {
      const td = el(doc, n === 0 ? "th" : "td");
      if (aligns[column]) td.classList.add(`align-${aligns[column]}`);
      td.append(inline(cell, doc));
      tr.append(td);
    });
    (n === 0 ? head : body).append(tr);
  });
  node.append(head, body);
  return node;
}

function el(doc, tag, text = null) {
  const node = doc.createElement(tag);
  if (text !== null) node.textContent = text;
  return node;
}
