"""Sejoli exports read exactly as real files have them (``imports.formats``).

Every file here is written by ``phpcsv.fputcsv`` — PHP's rules, not Python's csv module — and
then dressed the way real downloads and spreadsheet re-saves dress them: notices glued before the
header, PHP warning lines, BOM and CRLF, other delimiters, respelled or reordered header names,
trailing empty header cells, XLSX with numbers where text was. Each must come back as the rows
that were written, keyed by the layout's canonical column names.
"""

import csv
import io
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from imports import formats, services
from imports import normalise as n
from imports.formats import parse_bytes
from imports.models import ImportJob, Member

from . import phpcsv
from .conftest import run_cli

# The headers as Sejoli (and the team's products.csv) name the columns: the canonical names.
HEADERS = {
    "users": ["User ID", "name", "email", "phone", "address", "affiliate", "group"],
    "orders": [
        "INV", "product", "created_at", "name", "email", "phone", "quantity", "price", "status",
        "affiliate", "affiliate_id", "address", "payment", "courier", "variant", "notes",
    ],
    "orders-old": [
        "INV", "product", "created_at", "name", "email", "phone", "price", "status", "affiliate",
        "affiliate_id", "address", "courier", "variant",
    ],
    "commissions": ["user_id", "affiliate name", "email", "phone", "commission", "bank info"],
    "subscriptions": [
        "INV", "product", "created_at", "name", "email", "phone", "expired_date", "expired_day",
        "renewal_link",
    ],
    "products": ["product_id", "product", "price", "commission", "access_days"],
}  # fmt: skip
KIND = {name: name.removesuffix("-old") for name in HEADERS}

FIRST = ["Budi", "Siti", "Agus", "Dewi", "Rina", "Eko", "Putri", "Wahyu", "Nur", "Dimas", "Sri"]
LAST = ["Santoso", "Wijaya", "Saputra", "Hidayat", "Siregar", "Nugroho", "Rahmawati", "Kusuma"]
PREFIXES = ["811", "812", "813", "821", "852", "857", "878", "896"]
ADDRESSES = [
    "-",
    "Jl. Merdeka No. 12, RT 03/RW 04\nKel. Sukajadi, Kec. Sukajadi\nKOTA BANDUNG",
    "Perum Griya Asri Blok C-7, Sidoarjo, Jawa Timur 61252",
    "Jl. Sudirman Kav. 52-53\r\nJakarta Selatan",
    'Gg. \\"Mawar\\" No. 3, Yogyakarta',  # WordPress's magic quotes: a backslash before "
    "Ruko Sentra Niaga\tLt. 2, Medan",
]
PRODUCTS = [
    (690, "Membership Eksporyuk 1 Tahun", "1500000.00", "15%", "365"),
    (311, "Kelas Copywriting Jualan", "349000.00", "Rp. 50.000", ""),
    (122, "Webinar Buyer Global", "99000.00", "20%", ""),
    (453, "Membership Komunitas Bulanan", "149000.00", "Rp. 25.000", "30"),
    (875, "Private Coaching Bisnis 3 Bulan", "3900000.00", "10%", "91"),
]
STATUSES = [
    "Selesai", "Menunggu pembayaran", "Batal", "Refund", "Pesanan diproses", "Completed",
    "Waiting for payment", "on-hold", "payment-confirm",
]  # fmt: skip
PAYMENTS = ["Manual", "Duitku", "Moota - Bca 1234567890", "Xendit - QRIS", "Bca"]
NOTES = ["", 'Tolong kirim "cepat", terima kasih', "Transfer\tBCA, a.n. istri", "-"]
NOW = datetime(2025, 12, 9, 10, 0, 0)


def typed_phone(rng: random.Random, i: int) -> str:
    national = rng.choice(PREFIXES) + str(10_000_000 + i * 7919 % 80_000_000)
    return rng.choice([
        "0" + national, "62" + national, "+62" + national,
        f"+62 {national[:3]}-{national[3:7]}-{national[7:]}",
        f"0{national[:3]} {national[3:7]} {national[7:]}",
    ])  # fmt: skip


def rupiah(value: int) -> str:
    sign = "- " if value < 0 else ""
    return f"{sign}Rp. {abs(value):,}".replace(",", ".")


def person(rng: random.Random, i: int) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    name = f"{first} {last}" if i % 13 else '=HYPERLINK("http://x","klik")'
    return name, f"{first}.{last}{i}@gmail.com".lower(), typed_phone(rng, i)


def stamp(rng: random.Random) -> str:
    when = NOW - timedelta(minutes=rng.randint(0, 700 * 24 * 60))
    return when.strftime("%Y-%m-%d %H:%M:00")


def build(export: str, count: int = 40, seed: int = 1) -> list[list[str]]:
    """Rows of one export, in the canonical column order, as PHP would get them (strings)."""
    rng = random.Random(f"{export}-{seed}")
    return [ROW_BUILDERS[export](rng, i) for i in range(count)]


def _user(rng, i):
    name, email, phone = person(rng, i)
    referrer = rng.choice(["-", "-", "Eko Pratama", "Siti Nur'aini"])
    return [str(2 + i), name, email, phone, rng.choice(ADDRESSES), referrer,
            rng.choice(["-", "Member Premium"])]  # fmt: skip


def _order(rng, i, old=False):
    name, email, phone = person(rng, i)
    if i % 17 == 5:  # the buyer's WordPress user was deleted
        name, email = "", ""
    _, product, price, *_ = rng.choice(PRODUCTS)
    quantity = rng.choice([1, 1, 1, 2])
    total = f"{Decimal(price) * quantity:.2f}" if i % 11 else "99500.50"
    affiliate, affiliate_name = rng.choice([("0", ""), ("16", "Eko Pratama"), ("48", "Joko W")])
    created = stamp(rng) if i % 19 else "0000-00-00 00:00:00"
    status = rng.choice(STATUSES)
    address, courier, variant = rng.choice(ADDRESSES), rng.choice(["-", "JNE REG"]), "-"
    if old:
        return [str(5000 + i), product, created, name, email, phone, total, status, affiliate,
                affiliate_name, address, courier, variant]  # fmt: skip
    return [str(5000 + i), product, created, name, email, phone, str(quantity), total, status,
            affiliate, affiliate_name, address, rng.choice(PAYMENTS), courier, variant,
            rng.choice(NOTES)]  # fmt: skip


def _commission(rng, i):
    name, email, phone = person(rng, i)
    amount = rng.choice([1_250_000, 2_994_800, 75_000, -9_900, 0])
    return [str(10 + i), name, email, phone, rupiah(amount), f"BCA 32130{i:05d} a.n. {name}"]


def _subscription(rng, i):
    name, email, phone = person(rng, i)
    created = stamp(rng) if i % 9 else "0000-00-00 00:00:00"
    expired = NOW - timedelta(days=rng.randint(1, 600), minutes=rng.randint(0, 1439))
    inv = str(5000 + i)
    return [inv, rng.choice(PRODUCTS)[1], created, name, email, phone,
            expired.strftime("%Y-%m-%d %H:%M:%S"), str((NOW - expired).days),
            f"https://eksporyuk.id/checkout/renew/?order_id={inv}"]  # fmt: skip


def _product(rng, i):
    pid, name, price, commission, days = PRODUCTS[i % len(PRODUCTS)]
    return [str(pid + 1000 * (i // len(PRODUCTS))), name, price, commission, days]


ROW_BUILDERS = {
    "users": _user,
    "orders": _order,
    "orders-old": lambda rng, i: _order(rng, i, old=True),
    "commissions": _commission,
    "subscriptions": _subscription,
    "products": _product,
}


def expected(export: str, rows: list[list[str]]) -> list[tuple[int, dict[str, str]]]:
    return [(i, dict(zip(HEADERS[export], row, strict=True))) for i, row in enumerate(rows, 1)]


def read(data: bytes, **kw) -> tuple[formats.Source, list]:
    source = parse_bytes(data, **kw)
    return source, list(source.rows())


# --- the writer itself: a bug here would hide a reader bug ---------------------------------------
@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (["User ID", "name", "email"], '"User ID",name,email\n'),
        (["user_id", "affiliate name", "bank info"], 'user_id,"affiliate name","bank info"\n'),
        (['a"b', "", None, 5, 150000.0], '"a""b",,,5,150000\n'),
        (['a\\"b'], '"a\\"b"\n'),  # the quote after a backslash is not doubled
        (['a\\\\"b'], '"a\\\\"b"\n'),  # nor after a run of them
        (['a\\x"b'], '"a\\x""b"\n'),  # another character ends the escape
        (["C:\\dir\\"], '"C:\\dir\\"\n'),
        (["tab\there", "cr\rx", "l1\nl2", "x;y"], '"tab\there","cr\rx","l1\nl2",x;y\n'),
    ],
)
def test_writer_follows_php_fputcsv(fields, line):
    assert phpcsv.fputcsv(fields) == line


def test_python_csv_cannot_read_php_backslash_quotes():
    """Why the reader fixes them: Python's csv either fails or loses the backslash."""
    line = phpcsv.fputcsv(["1", 'a\\"b', "C:\\dir\\x"])
    assert line == '1,"a\\"b","C:\\dir\\x"\n'
    with pytest.raises(csv.Error):
        list(csv.reader(io.StringIO(line), strict=True))
    assert next(csv.reader(io.StringIO(line)))[1] != 'a\\"b'
    lenient = next(csv.reader(io.StringIO(line), escapechar="\\"))
    assert lenient[1:] == ['a"b', "C:dirx"]  # every backslash dropped


# --- each export, as written and behind what PHP printed first ------------------------------------
PREAMBLES = {
    "clean": "",
    "one-notice": phpcsv.notices(1),
    "5000-notices": phpcsv.notices(5000),
    "warnings": phpcsv.warnings(3),
    "warnings-then-notices": phpcsv.warnings(2) + phpcsv.notices(40),
    "junk-with-commas-and-quotes": 'Error "kota", tidak ditemukan, "' + phpcsv.notices(2),
}


@pytest.mark.parametrize("preamble", PREAMBLES, ids=list(PREAMBLES))
@pytest.mark.parametrize("export", HEADERS)
def test_each_export_is_recognised_and_read_back_exactly(export, preamble):
    rows = build(export)
    data = phpcsv.export(HEADERS[export], rows, preamble=PREAMBLES[preamble])
    source, got = read(data)
    assert source.kind == KIND[export]
    assert source.columns == HEADERS[export]
    assert (source.encoding, source.delimiter) == ("utf-8", ",")
    assert got == expected(export, rows)


def test_real_headers_are_quoted_as_php_writes_them():
    assert phpcsv.export(HEADERS["users"], []).startswith(b'"User ID",name,email,')
    commissions = phpcsv.export(HEADERS["commissions"], [])
    assert commissions == b'user_id,"affiliate name",email,phone,commission,"bank info"\n'


@pytest.mark.parametrize("export", HEADERS)
def test_bom_crlf_and_spreadsheet_delimiters(export):
    rows = build(export, seed=2)
    for delimiter in ",;\t|":
        data = phpcsv.export(
            HEADERS[export], rows, delimiter=delimiter, eol="\r\n", bom=True,
            preamble=phpcsv.notices(3),
        )  # fmt: skip
        source, got = read(data)
        assert (source.kind, source.delimiter, source.encoding) == (
            KIND[export], delimiter, "utf-8-sig",
        )  # fmt: skip
        assert got == expected(export, rows)


def respell(name: str, i: int) -> str:
    """The names as a person retyping the header writes them."""
    words = name.replace("_", " ").split()
    return [
        " ".join(words).upper(),
        "_".join(words).lower(),
        "-".join(w.capitalize() for w in words),
        f"  {' '.join(words).title()}  ",
        "  ".join(words),
    ][i % 5]


@pytest.mark.parametrize("export", HEADERS)
def test_respelled_and_reordered_headers(export):
    rows = build(export, seed=3)
    order = list(range(len(HEADERS[export])))
    random.Random(export).shuffle(order)
    header = [respell(HEADERS[export][j], k) for k, j in enumerate(order)]
    shuffled = [[row[j] for j in order] for row in rows]
    data = phpcsv.export(header, shuffled, preamble=phpcsv.warnings(1) + phpcsv.notices(2))
    source, got = read(data)
    assert source.kind == KIND[export]
    assert source.header == [h.strip() for h in header]
    assert got == expected(export, rows)
    assert all(list(row) == HEADERS[export] for _, row in got)  # canonical keys, canonical order


@pytest.mark.parametrize("export", HEADERS)
def test_trailing_empty_header_cells(export):
    rows = build(export, seed=4)
    header = [*HEADERS[export], "", "", ""]
    padded = [[*row, "", "", ""] if i % 2 else row for i, row in enumerate(rows)]
    source, got = read(phpcsv.export(header, padded, eol="\r\n"))
    assert source.kind == KIND[export]
    assert got == expected(export, rows)


def test_orders_layouts_are_told_apart_in_any_order():
    old, new = HEADERS["orders-old"], HEADERS["orders"]
    source, _ = read(phpcsv.export(list(reversed(new)), []))
    assert source.columns == new
    source, _ = read(phpcsv.export(list(reversed(old)), []))
    assert source.columns == old
    # the 13 last names of a 16-column header are not the old layout
    tail_is_not_old = [c for c in new if c not in old] + old
    source, _ = read(phpcsv.export(tail_is_not_old, []))
    assert source.columns == new


def test_php_noise_between_rows_is_skipped_and_rows_keep_numbering():
    rows = build("users", 4)
    lines = [phpcsv.fputcsv(HEADERS["users"])]
    for i, row in enumerate(rows):
        lines.append(phpcsv.fputcsv(row))
        if i == 1:
            lines += [phpcsv.warnings(2), "<br />\n", "\n"]
    _, got = read("".join(lines).encode())
    assert got == expected("users", rows)


def test_wrong_widths_are_row_errors_and_broken_csv_names_the_row():
    rows = build("users", 3)
    data = phpcsv.export(HEADERS["users"], [rows[0], rows[1][:3], [*rows[2], "x"]])
    _, got = read(data)
    assert got[0] == expected("users", rows)[0]
    assert got[1:] == [
        (2, {"__error__": "expected 7 columns, found 3"}),
        (3, {"__error__": "expected 7 columns, found 8"}),
    ]
    broken = phpcsv.export(HEADERS["users"], rows[:2]) + b'9,Budi,b@x.id,0812,"Jl. A\n'
    source = parse_bytes(broken)
    with pytest.raises(ValidationError, match="not valid CSV near data row 3"):
        list(source.rows())


def test_php_backslash_quote_values_read_back():
    values = [
        'Gg. \\"Mawar\\" No. 3',  # magic quotes
        'a\\"b',
        'a\\\\"b',  # a run of backslashes before the quote
        'ends with \\"',  # the undoubled quote, then the closing one
        'a\\""b',  # undoubled, then doubled
        "C:\\Users\\budi\\",  # a value ending in a backslash, closed by the next quote
        'say "hi", then \\n',
    ]
    rows = [[str(2 + i), "Budi", "b@x.id", "0812", v, v, "-"] for i, v in enumerate(values)]
    data = phpcsv.export(HEADERS["users"], rows)
    assert b'"Gg. \\"Mawar\\" No. 3"' in data  # as PHP writes it: quotes not doubled
    _, got = read(data)
    assert got == expected("users", rows)


def test_backslash_quotes_from_writers_that_double_every_quote():
    """A spreadsheet or Python re-save doubles the quote PHP left single: still the same value."""
    values = ['Gg. \\"Mawar\\" No. 3', 'a\\"b', 'ends with \\"', "C:\\Users\\budi\\", 'a\\""b']
    rows = [[str(2 + i), "Budi", "b@x.id", "0812", v, v, "-"] for i, v in enumerate(values)]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows([HEADERS["users"], *rows])
    assert '"Gg. \\""Mawar\\"" No. 3"' in out.getvalue()
    _, got = read(out.getvalue().encode())
    assert got == expected("users", rows)


# --- spreadsheets ---------------------------------------------------------------------------------
NUMBERS = {"User ID", "INV", "quantity", "user_id", "product_id", "expired_day", "affiliate",
           "access_days"}  # fmt: skip
EXCEL_EPOCH = datetime(1899, 12, 30)


def as_cell(column: str, value: str):
    """What a spreadsheet holds after opening the CSV and saving it again."""
    zero = value.startswith("0000")
    if column == "phone" and value.isdigit():
        return int(value)  # the leading 0 is gone
    if column in NUMBERS and value.isdigit():
        return int(value)
    if column == "price":
        return float(value)
    if column == "created_at" and not zero:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    if column == "expired_date" and not zero:  # a date column that lost its format: a serial
        return (datetime.strptime(value, "%Y-%m-%d %H:%M:%S") - EXCEL_EPOCH) / timedelta(days=1)
    return value


def as_read(column: str, value: str) -> str:
    """The text the reader gives back for a cell: what the CSV would say where unambiguous."""
    if column == "phone" and value.isdigit():
        return str(int(value))
    if column == "price":
        return format(Decimal(value).normalize(), "f")  # 150000.00 -> 150000, 99500.50 -> 99500.5
    return value.replace("\r\n", "\n")  # XML (the sheet's storage) keeps line ends as LF


def xlsx(header: list, rows: list[list], above: list[list] | None = None) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for cells in above or []:
        sheet.append(cells)
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows():
        for cell in cells:  # a name like =HYPERLINK(...) kept as text, not made a formula
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("export", HEADERS)
def test_excel_resave(export):
    columns = HEADERS[export]
    rows = build(export, seed=5)
    header = [respell(c, i) if i % 2 else c for i, c in enumerate(columns)] + ["", ""]
    if export.startswith("orders"):
        header[0] = phpcsv.notices(3) + header[0]  # the glued notices land in cell A1
    cells = [[as_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in rows]
    data = xlsx(header, cells, above=[[phpcsv.NOTICE], [], [None, None]])
    source, got = read(data)
    assert (source.kind, source.columns, source.encoding) == (KIND[export], columns, "xlsx")
    assert len(got) == len(rows)
    for (number, row), (i, want) in zip(got, expected(export, rows), strict=True):
        assert number == i
        for column, value in want.items():
            if column == "expired_date" and not value.startswith("0000"):
                assert row[column].replace(".", "").isdigit()  # a serial number, as text
                assert n.date(row[column]) == n.date(value)
            else:
                assert row[column] == as_read(column, value), (column, value)
        if "phone" in want:
            assert n.phone(row["phone"]) == n.phone(want["phone"])
        if "price" in want:
            assert n.money(row["price"]) == n.money(want["price"])


def test_excel_row_wider_than_the_header_is_a_row_error():
    rows = [[2, "Budi", "b@x.id", 81234567890, "-", "-", "-"],
            [3, "Siti", "s@x.id", 81234567891, "-", "-", "-", None, "catatan"]]  # fmt: skip
    _, got = read(xlsx(HEADERS["users"], rows))
    assert got[0][1]["phone"] == "81234567890"
    assert got[1] == (2, {"__error__": "expected 7 columns, found 9"})


def rewrite_sheet(data: bytes, old: str, new: str) -> bytes:
    """The same workbook with one cell's stored text changed (as another writer stores it)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert old.encode() in body
                body = body.replace(old.encode(), new.encode())
            dst.writestr(item, body)
    return out.getvalue()


def test_excel_numbers_stored_as_floats_read_as_integers():
    # Some writers store whole numbers as 1.5E+5 or 150000.0: they must not read as "150000.0",
    # nor a phone as "81234567890.0" (whose digits would be another number).
    rows = [["5001", "Kelas Ekspor Pemula", "2024-01-30 10:30:00", "Budi", "b@x.id",
             "081234567890", "299000.00", "Selesai", "0", "", "-", "-", "-"]]  # fmt: skip
    cells = [[as_cell(c, v) for c, v in zip(HEADERS["orders-old"], row, strict=True)]
             for row in rows]  # fmt: skip
    data = xlsx(HEADERS["orders-old"], cells)
    data = rewrite_sheet(data, "<v>299000</v>", "<v>2.99E+5</v>")
    data = rewrite_sheet(data, "<v>81234567890</v>", "<v>81234567890.0</v>")
    _, got = read(data)
    assert (got[0][1]["price"], got[0][1]["phone"]) == ("299000", "81234567890")
    assert n.phone(got[0][1]["phone"]) == "+6281234567890"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 30, 10, 29, 59, 999_987), "2024-01-30 10:30:00"),  # float time error
        (datetime(2024, 1, 30, 10, 30, 0, 12), "2024-01-30 10:30:00"),
        (150000.0, "150000"), (99500.5, "99500.5"), (6281234567890.0, "6281234567890"),
        (81234567890, "81234567890"), (None, ""), ("Rp. 1.250.000", "Rp. 1.250.000"),
    ],
)  # fmt: skip
def test_spreadsheet_cells_as_csv_text(value, text):
    assert formats.cell_text(value) == text


# --- what is refused ------------------------------------------------------------------------------
def test_closest_layout_is_named_with_its_differences():
    header = ["Kode", "name", "email", "phone", "address", "affiliate", "catatan"]
    with pytest.raises(ValidationError) as err:
        parse_bytes(phpcsv.export(header, build("users", 2)))
    message = err.value.messages[0]
    assert "matches no known layout" in message
    assert "Closest: Sejoli users" in message
    assert "missing: User ID, group; unexpected: Kode, catatan" in message


def test_closest_layout_sees_through_glued_notices_and_the_chosen_kind():
    header = [*HEADERS["orders-old"]]
    header[header.index("price")] = "harga"
    data = phpcsv.export(header, [], preamble=phpcsv.notices(20))
    with pytest.raises(
        ValidationError, match=r"Sejoli orders .*missing: price; unexpected: harga\."
    ):
        parse_bytes(data, kind="orders")
    commissions = ["user_id", "affiliate name", "email", "phone", "komisi", "bank info"]
    with pytest.raises(ValidationError, match=r"Sejoli commissions .*missing: commission;"):
        parse_bytes(phpcsv.export(commissions, []))


def test_a_known_header_of_another_kind_is_refused():
    with pytest.raises(ValidationError, match="users export, not orders"):
        parse_bytes(phpcsv.export(HEADERS["users"], build("users", 2)), kind="orders")


def test_scan_is_bounded_by_lines():
    rows = build("users", 2)
    near = phpcsv.warnings(400) + phpcsv.notices(10)
    assert parse_bytes(phpcsv.export(HEADERS["users"], rows, preamble=near)).kind == "users"
    far = phpcsv.warnings(formats.SCAN_LINES + 10)
    with pytest.raises(ValidationError, match="matches no known layout"):
        parse_bytes(phpcsv.export(HEADERS["users"], rows, preamble=far))


def test_noise_only_files_are_refused_with_a_clear_error():
    only_notices = phpcsv.notices(400_000).encode()  # 11 MB on one line, no header
    with pytest.raises(ValidationError, match=r"No line of the first 500 lines \(or 4 MB\)"):
        parse_bytes(only_notices)
    garbage = "".join(f'{phpcsv.warnings(1)}x{i};"y\n' for i in range(50_000)).encode()
    with pytest.raises(ValidationError, match="matches no known layout"):
        parse_bytes(garbage)
    warnings = "Warning: Undefined index: kota, provinsi in /var/www/a.php on line 9\n" * 90_000
    with pytest.raises(ValidationError, match="No line of the first 500 lines"):
        parse_bytes(warnings.encode())


# --- mapping -------------------------------------------------------------------------------------
RENAMED = ["Kode", "Nama Lengkap", "Surel", "No. HP", "Alamat"]
USER_MAP = {"User ID": "Kode", "name": "Nama Lengkap", "email": "Surel", "phone": "No. HP",
            "address": "Alamat"}  # fmt: skip


def renamed_users(count: int = 5) -> tuple[bytes, list[list[str]]]:
    rows = [row[:5] for row in build("users", count, seed=6)]
    return phpcsv.export(RENAMED, rows, preamble=phpcsv.notices(2)), rows


def test_mapping_matches_columns_with_the_same_normalisation():
    data, rows = renamed_users()
    loose = {"user id": " KODE", "Name": "nama_lengkap", "email": "surel", "phone": "no. hp"}
    source, got = read(data, kind="users", mapping=loose)
    assert source.mapping == {
        "User ID": "KODE", "name": "nama_lengkap", "email": "surel", "phone": "no. hp",
        "address": "", "affiliate": "", "group": "",
    }  # fmt: skip
    user_id, name, email, phone, _ = rows[0]
    assert got[0][1] == {"User ID": user_id, "name": name, "email": email, "phone": phone,
                         "address": "", "affiliate": "", "group": ""}  # fmt: skip
    # the stored mapping reads the file again the same way (a resumed job)
    assert list(parse_bytes(data, kind="users", mapping=source.mapping).rows()) == got


def test_mapping_errors():
    data, _ = renamed_users()
    with pytest.raises(ValidationError, match="Mapped columns not in the file: Telepon"):
        parse_bytes(data, kind="users", mapping={"phone": "Telepon"})
    with pytest.raises(ValidationError, match=r"Unknown field\(s\) for Sejoli users: hp\. "):
        parse_bytes(data, kind="users", mapping={"hp": "No. HP"})
    with pytest.raises(ValidationError, match="Choose the kind"):
        parse_bytes(data, mapping=USER_MAP)


def test_products_in_a_spreadsheet_shape():
    rows = build("products", 8)
    header = ["Product ID", "Product", "Price", "Commission", "Access Days", "", ""]
    lines = [";".join(header)] + [";".join([*row, "", ""]) for row in rows]
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")
    source, got = read(data)
    assert (source.kind, source.delimiter) == ("products", ";")
    assert got == expected("products", rows)


# --- the command line -----------------------------------------------------------------------------
@pytest.mark.django_db
def test_cli_imports_renamed_columns_through_map_and_preset(tmp_path, user_factory):
    data, rows = renamed_users()
    path = tmp_path / "anggota.csv"
    path.write_bytes(data)
    maps = [f"{col}={name}" for name, col in USER_MAP.items()]
    result = run_cli(path, "--kind", "users", *[a for m in maps for a in ("--map", m)])
    assert result[0]["kind"] == "users" and result[0]["created"] == len(rows)
    assert result[0]["rejected"] == []
    assert sorted(Member.objects.values_list("phone", flat=True)) == sorted(
        n.phone(r[3]) for r in rows
    )
    job = ImportJob.objects.get()
    assert job.preview["mapping"]["phone"] == "No. HP"

    op = user_factory("operator")
    services.preset_save(actor=op, name="Anggota", kind="users", mapping=USER_MAP)
    again = run_cli(path, "--preset", "Anggota", "--dry-run")
    assert again[0]["kind"] == "users" and again[0]["unchanged"] == len(rows)
    # --map overrides a preset's column
    other = tmp_path / "anggota2.csv"
    other.write_bytes(data.replace(b"No. HP", b"WhatsApp"))
    third = run_cli(other, "--preset", "Anggota", "--map", "WhatsApp=phone", "--dry-run")
    assert third[0]["unchanged"] == len(rows)


@pytest.mark.django_db
def test_cli_mapping_errors(tmp_path, user_factory):
    data, _ = renamed_users()
    path = tmp_path / "anggota.csv"
    path.write_bytes(data)
    with pytest.raises(CommandError, match="--map needs --kind"):
        run_cli(path, "--map", "Kode=User ID")
    with pytest.raises(CommandError, match=r"Unknown field\(s\) for Sejoli users: hp\. Its fields "
                                           r"are: User ID, name, email, phone, address, affiliate, "
                                           r"group\."):  # fmt: skip
        run_cli(path, "--kind", "users", "--map", "No. HP=hp")
    with pytest.raises(CommandError, match="FILE COLUMN=field"):
        run_cli(path, "--kind", "users", "--map", "Kode")
    with pytest.raises(CommandError, match="No column preset 'Nope'"):
        run_cli(path, "--preset", "Nope")
    services.preset_save(actor=user_factory("operator"), name="Anggota", kind="users",
                         mapping=USER_MAP)  # fmt: skip
    with pytest.raises(CommandError, match="maps users files, not orders"):
        run_cli(path, "--preset", "Anggota", "--kind", "orders")
    with pytest.raises(CommandError, match="Mapped columns not in the file: Telepon"):
        run_cli(path, "--preset", "Anggota", "--map", "Telepon=phone")
    assert not ImportJob.objects.exists()
