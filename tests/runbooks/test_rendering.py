"""Plan Markdown as HTML: rendered by markdown-it-py with raw HTML off, cleaned by nh3."""

import re

import pytest
from django.template import Context, Template

from runbooks.rendering import render_markdown, sanitize


def _links(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def _boxes(html: str) -> list[set[str]]:
    """Each <input>'s attributes (the sanitizer writes them in no fixed order)."""
    return [set(attrs.split()) for attrs in re.findall(r"<input ([^>]*)>", html)]


# --- what a plan may contain that must never reach the page as markup --------------------------
@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "Before <script>alert(1)</script> after",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        "<iframe src=https://evil.example></iframe>",
        "<svg onload=alert(1)></svg>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "<details open ontoggle=alert(1)>",
    ],
)
def test_raw_html_is_shown_as_text(source):
    html = render_markdown(source)
    # No element but the paragraph around the text; the text itself is kept, escaped, so an
    # operator sees what the plan says.
    assert set(re.findall(r"<(\w+)", html)) == {"p"}, html
    assert "&lt;" in html


@pytest.mark.parametrize(
    "source",
    [
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        "[click](  javascript:alert(1))",
        "[click](java\tscript:alert(1))",
        "[click](javascript&#58;alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
        "<javascript:alert(1)>",
        "![img](javascript:alert(1))",
    ],
)
def test_script_links_are_not_links(source):
    html = render_markdown(source)
    for href in _links(html):
        assert not re.match(r"\s*(javascript|vbscript|data):", href, re.IGNORECASE), html
    assert "javascript:" not in " ".join(_links(html)).lower()


def test_safe_links_get_rel_and_images_become_links():
    html = render_markdown(
        "[docs](https://docs.example.com/a?b=1&c=2) "
        "![diagram](https://cdn.example.com/d.png) <mailto:ops@example.com>"
    )
    assert (
        '<a href="https://docs.example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">'
        in (html)
    )
    # An image is a link to it: a plan does not make every reader's browser fetch a third party.
    assert "<img" not in html
    assert (
        '<a href="https://cdn.example.com/d.png" rel="noopener noreferrer nofollow">diagram</a>'
        in (html)
    )
    assert 'href="mailto:ops@example.com"' in html


def test_code_blocks_keep_their_text_and_language():
    html = render_markdown(
        "Run:\n\n```bash\necho '<b>hi</b>' && rm -rf ./build\n```\n\n"
        '```x" onmouseover="alert(1)\nplain\n```\n\n    indented <i>code</i>\n'
    )
    assert (
        "<pre><code class=\"language-bash\">echo '&lt;b&gt;hi&lt;/b&gt;' &amp;&amp; rm -rf" in html
    )
    assert "onmouseover" not in html  # a crafted info string is no attribute
    assert "<pre><code>plain\n</code></pre>" in html
    assert "<pre><code>indented &lt;i&gt;code&lt;/i&gt;\n</code></pre>" in html


def test_tables_lists_and_task_boxes():
    html = render_markdown(
        "| Env | URL |\n|:--|--:|\n| prod | https://app.example.com |\n\n"
        "- [ ] open box\n- [x] ticked box\n- plain item\n\n1. first\n2. second\n"
    )
    assert '<th style="text-align:left">Env</th>' in html
    assert '<td style="text-align:right">https://app.example.com</td>' in html
    assert re.search(r"<li><input [^>]*> open box</li>", html)
    assert re.search(r"<li><input [^>]*> ticked box</li>", html)
    assert _boxes(html) == [
        {'disabled="disabled"', 'type="checkbox"'},
        {'checked=""', 'disabled="disabled"', 'type="checkbox"'},
    ]
    assert "<li>plain item</li>" in html and "<ol>" in html


def test_ops_markers_and_comments_are_invisible_but_code_keeps_them():
    html = render_markdown(
        "Promote the build <!-- ops: second-signoff -->\n\n"
        "<!-- ops: check http GET https://app.example.com/health expect 200 -->\n\n"
        "Write `<!-- not a marker -->` in the template.\n"
    )
    assert "ops:" not in html.replace("&lt;!-- not a marker --&gt;", "")
    assert "<p>Promote the build</p>" in html
    assert "<code>&lt;!-- not a marker --&gt;</code>" in html
    assert "<p></p>" not in html


def test_sanitizer_is_a_second_layer():
    # What markdown-it-py would never emit with raw HTML off, the sanitizer still removes.
    dirty = (
        '<p onclick="x()">hi<script>alert(1)</script></p>'
        '<a href="javascript:alert(1)">a</a><a href="https://ok.example">b</a>'
        '<code class="language-sh evil">c</code><input type="text" name="token" value="v">'
        '<td style="position:fixed;text-align:left">t</td>'
    )
    clean = sanitize(dirty)
    assert "onclick" not in clean and "<script" not in clean and "alert(1)" not in clean
    assert 'href="javascript' not in clean
    assert '<a href="https://ok.example" rel="noopener noreferrer nofollow">b</a>' in clean
    assert "<code>c</code>" in clean  # an unexpected class is dropped
    assert _boxes(clean) == [{'disabled="disabled"', 'type="checkbox"'}]  # a disabled box only
    assert "token" not in clean
    assert "position" not in clean


def test_empty_text_renders_nothing():
    assert render_markdown("") == "" and render_markdown(None) == ""
    assert render_markdown("  \n") == ""


def test_template_filter_renders_and_is_safe():
    template = Template("{% load rendering %}<div>{{ body|markdown }}</div>")
    html = template.render(Context({"body": "**Bold** and <b onmouseover=x>raw</b>"}))
    assert "<strong>Bold</strong>" in html
    assert "&lt;b onmouseover=x&gt;raw&lt;/b&gt;" in html
    assert "&amp;lt;" not in html  # not escaped twice
