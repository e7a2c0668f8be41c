"""Hanoi's districts and Vietnam's province codes, as they stood before the 2025 reorganisation.

Since 1 July 2025 Vietnam has 34 provinces and no district level (Resolution 202/2025/QH15); the vaccination
records of 2021–2022 carry the older units, so vaxpass keeps them. District codes are the 3-digit codes of the
national list of administrative units (danh mục đơn vị hành chính); province codes are the first three digits
of a CCCD number (the province of birth registration, Circular 07/2016/TT-BCA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DistrictKind = Literal["urban", "rural", "town"]

# Vietnamese word for each level: quận (urban district), huyện (rural district), thị xã (town)
_ADMIN_WORD: dict[str, str] = {"urban": "quận", "rural": "huyện", "town": "thị xã"}


@dataclass(frozen=True)
class District:
    """A district of Hanoi (quận, huyện or thị xã) with its official 3-digit code."""

    code: str
    name: str
    kind: DistrictKind

    @property
    def admin_word(self) -> str:
        """`quận`, `huyện` or `thị xã`."""
        return _ADMIN_WORD[self.kind]

    @property
    def title(self) -> str:
        """The name with its level, as on a letterhead: `quận Đống Đa`, `thị xã Sơn Tây`."""
        return f"{self.admin_word} {self.name}"


DISTRICTS: tuple[District, ...] = (
    District("001", "Ba Đình", "urban"),
    District("002", "Hoàn Kiếm", "urban"),
    District("003", "Tây Hồ", "urban"),
    District("004", "Long Biên", "urban"),
    District("005", "Cầu Giấy", "urban"),
    District("006", "Đống Đa", "urban"),
    District("007", "Hai Bà Trưng", "urban"),
    District("008", "Hoàng Mai", "urban"),
    District("009", "Thanh Xuân", "urban"),
    District("016", "Sóc Sơn", "rural"),
    District("017", "Đông Anh", "rural"),
    District("018", "Gia Lâm", "rural"),
    District("019", "Nam Từ Liêm", "urban"),
    District("020", "Thanh Trì", "rural"),
    District("021", "Bắc Từ Liêm", "urban"),
    District("250", "Mê Linh", "rural"),
    District("268", "Hà Đông", "urban"),
    District("269", "Sơn Tây", "town"),
    District("271", "Ba Vì", "rural"),
    District("272", "Phúc Thọ", "rural"),
    District("273", "Đan Phượng", "rural"),
    District("274", "Hoài Đức", "rural"),
    District("275", "Quốc Oai", "rural"),
    District("276", "Thạch Thất", "rural"),
    District("277", "Chương Mỹ", "rural"),
    District("278", "Thanh Oai", "rural"),
    District("279", "Thường Tín", "rural"),
    District("280", "Phú Xuyên", "rural"),
    District("281", "Ứng Hòa", "rural"),
    District("282", "Mỹ Đức", "rural"),
)

_BY_CODE: dict[str, District] = {d.code: d for d in DISTRICTS}


def district_by_code(code: str) -> District:
    """The district with this 3-digit code; `KeyError` for an unknown code."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown Hanoi district code {code!r}") from None


# The 63 provinces and centrally-run cities of the CCCD numbering (pre-2025), code -> name.
PROVINCE_NAMES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh",
    "086": "Vĩnh Long", "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}

PROVINCE_CODES: tuple[str, ...] = tuple(PROVINCE_NAMES)
