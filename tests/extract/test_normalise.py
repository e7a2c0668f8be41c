from datetime import date

import pytest

from tests.factories import dose_row
from vaxpass.extract.normalise import nfc, normalise_row, parse_date


@pytest.mark.parametrize(("text", "expected"), [
    ("12/05/1990", date(1990, 5, 12)),
    ("1/2/21", date(2021, 2, 1)),
    ("3-4-85", date(1985, 4, 3)),
    ("1990-05-12", date(1990, 5, 12)),
    ("31/02/2021", None),
    ("hai", None),
    ("", None),
    (None, None),
])
def test_parse_date(text: str | None, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_nfc_joins_decomposed_text_and_collapses_spaces() -> None:
    decomposed = "Nguye\u0302\u0303n  Va\u0306n   An "
    assert nfc(decomposed) == "Nguyễn Văn An"
    assert nfc("   ") is None


def test_normalise_row_maps_vietnamese_headers() -> None:
    row = normalise_row(dose_row("7", "Trần Thị Đào", "07/03/1990", "Nữ", "0011 9000 0002", vaccine="Vero Cell",
                                 dose="2", date="01/09/2021"))
    assert row["sex"] == "F"
    assert row["national_id"] == "001190000002"
    assert row["dob"] == date(1990, 3, 7)
    assert row["vaccine_mp"] == "BBIBP-CorV"
    assert row["dose_number"] == 2
    assert row["nationality"] == "VN"


def test_unknown_vaccine_and_bad_dose_become_none() -> None:
    row = normalise_row(dose_row("8", "A", "01/01/1990", "Nam", "001090000001", vaccine="Vắc xin lạ", dose="hai"))
    assert row["vaccine_mp"] is None and row["vaccine_raw"] == "Vắc xin lạ"
    assert row["dose_number"] is None


@pytest.mark.parametrize(("text", "expected"), [
    ("44423", date(2021, 8, 15)),  # an Excel serial day number
    ("32640", date(1989, 5, 12)),
    ("2021-08-15T10:30:00+07:00", date(2021, 8, 15)),  # FHIR occurrenceDateTime
    ("5/8/21", date(2021, 8, 5)),
    ("99999", None),
])
def test_parse_date_serials_and_datetimes(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected
