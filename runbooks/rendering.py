"""Markdown from plans shown as HTML: step bodies, phase descriptions, notes, rollback plans.

Two layers, because plan text comes from outside (any team's file, pasted by an operator):

1. markdown-it-py renders CommonMark plus tables with **raw HTML off**: a ``<script>`` or an
   ``<img onerror=…>`` in the plan is shown as text, and its link validator refuses
   ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` link targets.
2. nh3 (the Python binding of the maintained Rust sanitizer *ammonia*) cleans the result against
   an allow-list of tags and attributes, with only ``http``, ``https`` and ``mailto`` links. Should
   a markdown-it release ever let something through, the sanitizer still drops it.

Images are rendered as links to the image: a plan must not make every reader's browser fetch a
third-party URL. HTML comments (``<!-- ops: … -->`` markers, which GitHub renders invisibly) are
left out instead of being shown as text; a comment inside a code span or a fence is code and stays.

``render_markdown(text)`` returns a ``SafeString``; templates use ``{% load rendering %}`` and
``{{ text|markdown }}``. Code blocks carry ``class="language-…"``; ``runbooks/copy.js`` gives each
rendered ``pre`` and each command a Copy button.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "strong", "em", "b", "i", "s", "del", "code", "pre", "kbd", "blockquote",
    "ul", "ol", "li", "a",
    "table", "thead", "tbody", "tr", "th", "td",
    "span", "input",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
    "input": {"checked"},
}
# Table alignment is the only inline style markdown-it writes.
STYLE_PROPERTIES = {"text-align"}
# A task-list box in a body is a picture of the source, not a form control.
FORCED_ATTRIBUTES = {"input": {"type": "checkbox", "disabled": "disabled"}}
URL_SCHEMES = {"http", "https", "mailto"}
LANG_RE = re.compile(r"^[A-Za-z0-9_+.#-]{1,30}$")
# A comment outside code spans: the alternation consumes code spans first and keeps them.
_COMMENT_RE = re.compile(r"(`+)(?:.+?)\1|<!--.*?-->", re.DOTALL)


def _strip_comments(state: StateCore) -> None:
    for token in state.tokens:
        if token.type == "inline" and "<!--" in token.content:
            token.content = _COMMENT_RE.sub(
                lambda m: m.group(0) if m.group(1) else "", token.content
            ).strip()


def _render_image(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escape(src)}">{escape(alt)}</a>'


def _render_fence(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    lang = (token.info or "").strip().split(" ")[0]
    cls = f' class="language-{escape(lang)}"' if lang and LANG_RE.match(lang) else ""
    return f"<pre><code{cls}>{escape(token.content)}</code></pre>\n"


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": False}).enable("table")
    md.core.ruler.before("inline", "strip_html_comments", _strip_comments)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("fence", _render_fence)
    return md


def _task_boxes(html: str) -> str:
    """``<li>[ ] text`` / ``<li><p>[x] text`` as a disabled checkbox, like GitHub shows it."""

    def box(m: re.Match) -> str:
        checked = " checked" if m.group(2) in "xX" else ""
        return f"{m.group(1)}<input{checked}> "

    return re.sub(r"(<li>(?:<p>)?)\[([ xX])\] ", box, html)


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values=FORCED_ATTRIBUTES,
        filter_style_properties=STYLE_PROPERTIES,
        attribute_filter=_attribute_filter,
        strip_comments=True,
    )


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    # ``class`` is only kept on code, and only the language-… class markdown-it-py writes.
    if attr == "class":
        if tag == "code" and value.startswith("language-") and LANG_RE.match(value[9:]):
            return value
        return None
    return value


def sanitize(html: str) -> str:
    """Clean an HTML fragment against the rendering's allow-list."""
    return _cleaner().clean(html)


def render_markdown(text: str | None) -> SafeString:
    """Plan Markdown as sanitized HTML (an empty string for empty text)."""
    if not text or not str(text).strip():
        return mark_safe("")
    html = _md().render(str(text))
    html = _task_boxes(html)
    html = html.replace("<p></p>\n", "")
    return mark_safe(sanitize(html))  # noqa: S308 (sanitized by nh3 against the allow-list)
