"""chatapp/picture_bytes/data_urls.py: the one reader and writer of base64 data URLs (serve's requests, the vision engine)."""
import pytest

from chatapp.picture_bytes import data_urls
from chatapp.picture_bytes.data_urls import DataUrlError


def test_written_urls_read_back_and_wrapped_base64_is_accepted():
    url = data_urls.encode(b"\x89PNG\r\n\x1a\nrest", "image/png")
    assert url.startswith("data:image/png;base64,")
    assert data_urls.decode(url) == data_urls.DataUrl("image/png", b"\x89PNG\r\n\x1a\nrest")
    head, payload = url.split(",", 1)
    wrapped = head + "," + "\n".join(payload[i:i + 4] for i in range(0, len(payload), 4))   # MIME-style lines
    assert data_urls.decode(wrapped).data == b"\x89PNG\r\n\x1a\nrest"
    assert data_urls.decode("DATA:Image/JPEG;name=a.jpg;base64,AAEC").mime == "image/jpeg"
    assert data_urls.decode("data:;base64,AAEC") == data_urls.DataUrl("", b"\x00\x01\x02")


@pytest.mark.parametrize("url, reason", [
    ("https://example.invalid/cat.png", "not base64 data URL"),
    ("data:image/png,plain-percent-encoded", "not base64 data URL"),
    ("data:image/png;base64,AAE*C", "not base64"),        # skipped by a lenient decoder: a different picture
    ("data:image/png;base64,AAE", "not base64"),          # cut short
    ("data:image/png;base64,", "empty"),
])
def test_refusals_name_their_reason(url, reason):
    with pytest.raises(DataUrlError) as err:
        data_urls.decode(url)
    assert err.value.reason == reason


def test_the_size_is_refused_before_decoding():
    url = data_urls.encode(bytes(3000), "image/png")
    assert len(data_urls.decode(url, max_bytes=3000).data) == 3000
    with pytest.raises(DataUrlError) as err:
        data_urls.decode(url, max_bytes=1000)
    assert err.value.reason == "too large"
