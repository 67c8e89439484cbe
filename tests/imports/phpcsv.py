"""Files as PHP writes them: ``fputcsv`` (Sejoli's exports) and the noise PHP prints around them.

The writer follows php_fputcsv (php-src ext/standard/file.c, PHP 8), not Python's csv module:
- a field is enclosed when it holds the delimiter, the enclosure, the escape character (``\\``),
  ``\\n``, ``\\r``, ``\\t`` or a space — so header names with a space come out quoted;
- inside an enclosed field an enclosure character is doubled, except directly after the escape
  character: a backslash sets an "escaped" flag that any other character but another backslash
  clears, and a quote seen while the flag is set is written once (``a\\"b`` -> ``"a\\"b"``);
- an empty string (and null, and false) is written as nothing, never ``""``;
- fields are joined by the delimiter, the line ends with ``\\n`` (the default ``eol``); no BOM.
"""

from collections.abc import Iterable, Sequence

NOTICE = "Format distrik tidak sesuai."
WARNINGS = (
    'Warning: Undefined array key "district" in /var/www/html/wp-content/plugins/sejoli/'
    "includes/functions/order.php on line 212\n",
    "Notice: Trying to access array offset on value of type null in /var/www/html/wp-content/"
    "plugins/sejoli/admin/order.php on line 87\n",
    "Deprecated: Creation of dynamic property SejoliSA\\Admin\\Order::$order_id is deprecated in "
    "/var/www/html/wp-content/plugins/sejoli/admin/order.php on line 41\n",
)


def php_string(value) -> str:
    """PHP's conversion of a scalar to string (null and false are empty, true is ``1``)."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _needs_enclosure(text: str, delimiter: str, enclosure: str, escape: str) -> bool:
    specials = {delimiter, enclosure, "\n", "\r", "\t", " "} | ({escape} if escape else set())
    return any(ch in specials for ch in text)


def _enclose(text: str, enclosure: str, escape: str) -> str:
    out = [enclosure]
    escaped = False
    for ch in text:
        if escape and ch == escape:
            escaped = True
        elif not escaped and ch == enclosure:
            out.append(enclosure)
        else:
            escaped = False
        out.append(ch)
    out.append(enclosure)
    return "".join(out)


def fputcsv(
    fields: Iterable,
    delimiter: str = ",",
    enclosure: str = '"',
    escape: str = "\\",
    eol: str = "\n",
) -> str:
    """One line as PHP's ``fputcsv($fh, $fields, $delimiter, $enclosure, $escape, $eol)``."""
    cells = []
    for value in fields:
        text = php_string(value)
        if _needs_enclosure(text, delimiter, enclosure, escape):
            text = _enclose(text, enclosure, escape)
        cells.append(text)
    return delimiter.join(cells) + eol


def export(
    header: Sequence[str],
    rows: Iterable[Sequence],
    *,
    preamble: str = "",
    delimiter: str = ",",
    eol: str = "\n",
    bom: bool = False,
) -> bytes:
    """A whole export: what PHP printed before the header, then the fputcsv lines, UTF-8."""
    lines = [fputcsv(header, delimiter, eol=eol)]
    lines += [fputcsv(row, delimiter, eol=eol) for row in rows]
    text = preamble + "".join(lines)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def notices(count: int) -> str:
    """Sejoli's notice, once per order with an old-format district, with no line break."""
    return NOTICE * count


def warnings(count: int = 3) -> str:
    return "".join(WARNINGS[i % len(WARNINGS)] for i in range(count))
