"""Issue 24 items 1 and 5, bad input: a picture the user gives decoded safely (pictures/intake.py), with real files
built here by Pillow and real files from sd-parsers' test resources (tests/data/pictures/README.md)."""
from __future__ import annotations

import base64
import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from chatapp.picture_bytes.formats import looks_like_picture
from chatapp.pictures import intake
from chatapp.pictures.intake import PictureError

DATA = Path(__file__).parent / "data" / "pictures"


def png_bytes(size=(64, 48), colour=(200, 30, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def jpeg_with_orientation(orientation: int, size=(80, 40)) -> bytes:
    """A landscape JPEG whose EXIF says how to turn it; its left half red, right half blue."""
    im = Image.new("RGB", size, (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "CameraMaker"          # Make: metadata that must not survive
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def huge_png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height over a tiny compressed body: a decompression bomb's shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)   # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def test_a_png_is_copied_as_png_without_its_text_chunks():
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("parameters", "a secret prompt")
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (1, 2, 3)).save(out, "PNG", pnginfo=info)
    picture = intake.decode(out.getvalue(), "shot.png")
    assert (picture.suffix, picture.width, picture.height) == (".png", 30, 20)
    with Image.open(io.BytesIO(picture.data)) as im:
        assert im.format == "PNG" and "parameters" not in im.info and im.getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize("orientation, size", [(1, (80, 40)), (6, (40, 80)), (3, (80, 40)), (8, (40, 80))])
def test_exif_orientation_is_applied_and_the_exif_dropped(orientation, size):
    picture = intake.decode(jpeg_with_orientation(orientation), "photo.jpg")
    assert picture.suffix == ".jpg" and (picture.width, picture.height) == size
    with Image.open(io.BytesIO(picture.data)) as im:
        assert im.size == size and not im.getexif()
        # Where the red half went says the picture was turned, not only its size swapped.
        red_at = {1: (5, 20), 3: (75, 20), 6: (20, 5), 8: (20, 75)}[orientation]
        r, _g, b = im.convert("RGB").getpixel(red_at)
        assert r > 200 and b < 60


def test_a_big_photo_is_scaled_to_the_stored_side():
    out = io.BytesIO()
    Image.new("RGB", (5000, 2500), (10, 120, 10)).save(out, "JPEG", quality=80)
    picture = intake.decode(out.getvalue(), "big.jpg")
    assert (picture.width, picture.height) == (2048, 1024)


def test_an_animation_gives_its_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    picture = intake.decode(out.getvalue(), "spin.gif")
    assert picture.frames == 3 and picture.suffix == ".png"
    with Image.open(io.BytesIO(picture.data)) as im:
        r, g, b = im.convert("RGB").getpixel((10, 10))
        assert r > 200 and g < 60 and b < 60


def test_transparency_is_kept_and_a_needless_alpha_dropped():
    see_through = intake.decode(png_bytes(mode="RGBA", colour=(9, 9, 9, 100)), "a.png")
    with Image.open(io.BytesIO(see_through.data)) as im:
        assert im.mode == "RGBA" and im.getpixel((0, 0))[3] == 100
    solid = intake.decode(png_bytes(mode="RGBA", colour=(9, 9, 9, 255)), "b.png")
    with Image.open(io.BytesIO(solid.data)) as im:
        assert im.mode == "RGB"


def test_a_16_bit_grey_picture_is_scaled_into_8_bits_not_clipped_to_white():
    grey = Image.new("I;16", (40, 30))
    grey.putdata([n * 50 for n in range(40 * 30)])   # 0 .. 59,950 of 65,535
    out = io.BytesIO()
    grey.save(out, "PNG")
    picture = intake.decode(out.getvalue(), "scan.png")
    with Image.open(io.BytesIO(picture.data)) as im:
        assert im.getpixel((0, 0))[0] == 0 and im.getpixel((20, 15))[0] == round(620 * 50 * 255 / 65535)
        assert im.getpixel((39, 29))[0] == round(1199 * 50 * 255 / 65535)


def test_a_real_jpeg_from_another_tool_loses_its_recipe():
    # sd-parsers' AUTOMATIC1111 JPEG keeps its recipe in EXIF UserComment: chatapp's copy has none of it.
    source = (DATA / "automatic1111_cropped.jpg").read_bytes()
    with Image.open(io.BytesIO(source)) as im:
        assert im.getexif()   # the file as that tool wrote it has EXIF
    picture = intake.decode(source, "automatic1111_cropped.jpg")
    with Image.open(io.BytesIO(picture.data)) as im:
        assert not im.getexif() and "exif" not in im.info


def test_a_real_photo_stays_a_jpeg_of_its_size_without_its_exif():
    # llama.cpp's own vision test photo (tests/data/pictures/README.md): measured, a photo as PNG is 4x the JPEG's
    # bytes (486 KB vs 112 KB here) and 35x its encoding time, hence JPEG q90 for photos.
    source = (DATA / "llama_cpp_test-1.jpeg").read_bytes()
    picture = intake.decode(source, "test-1.jpeg")
    assert (picture.suffix, picture.width, picture.height) == (".jpg", 640, 488)
    with Image.open(io.BytesIO(picture.data)) as im:
        assert im.format == "JPEG" and not im.getexif() and len(picture.data) < 2 * len(source)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")   # Pillow's, for the 81 MP header
@pytest.mark.parametrize("data, why", [
    (b"", "empty"),
    (b"this is a text file, not a picture\n" * 10, "not a picture chatapp can read"),
    (png_bytes()[:60], "damaged"),                                  # cut short inside the pixel data
    (huge_png_header(20000, 20000), "too many pixels"),            # a bomb: Pillow's error, from the header
    (huge_png_header(9000, 9000), "too many pixels"),              # between the limit and twice it: the warning
    (huge_png_header(20000, 8), "16,384 px a side"),                # a strip 20,000 px wide
])
def test_bad_pictures_are_refused_by_name_and_why(data, why):
    with pytest.raises(PictureError) as refused:
        intake.decode(data, "holiday.png")
    assert str(refused.value).startswith("holiday.png cannot be used as a picture: ") and why in str(refused.value)


def test_a_corrupt_jpeg_is_refused():
    data = bytearray(jpeg_with_orientation(1))
    data[len(data) // 2:] = b"\x00" * (len(data) - len(data) // 2)   # the scan data zeroed, markers gone
    with pytest.raises(PictureError, match="damaged"):
        intake.decode(bytes(data[: len(data) * 2 // 3]), "broken.jpg")


def test_files_the_intake_cannot_read(tmp_path, monkeypatch):
    with pytest.raises(PictureError, match="empty"):
        intake.read_file(str(DATA / "empty_file.png"))     # sd-parsers' 0-byte file
    with pytest.raises(PictureError, match="cannot be opened"):
        intake.read_file(str(tmp_path / "gone.png"))
    with pytest.raises(PictureError, match="not a regular file"):
        intake.read_file(str(tmp_path))
    locked = tmp_path / "locked.png"
    locked.write_bytes(png_bytes())
    locked.chmod(0)
    if os.access(locked, os.R_OK):   # root reads anything: the open is refused as the kernel refuses a user
        def refused(*_args, **_kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(intake, "open", refused, raising=False)
    with pytest.raises(PictureError, match=r"locked.png cannot be used as a picture: it cannot be read \(Permission denied\)"):
        intake.read_file(str(locked))


def test_a_stored_copy_and_its_data_url_for_an_engine(tmp_path):
    source = tmp_path / "wide.png"
    Image.new("RGB", (1500, 500), (0, 200, 0)).save(source)
    picture, path = intake.take_file(str(source), tmp_path / "store")
    assert path.parent == tmp_path / "store" and path.suffix == ".png" and (picture.width, picture.height) == (1500, 500)
    url = intake.data_url(str(path), 300)
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        assert im.size == (300, 100)
    with Image.open(io.BytesIO(base64.b64decode(intake.data_url(str(path), 0).split(",", 1)[1]))) as im:
        assert im.size == (1024, 341)   # an engine that does not say: DEFAULT_SIDE


# A minimal EPS document (what Pillow hands to Ghostscript to draw), saved under a picture's name.
EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
       b"1 0 0 setrgbcolor 0 0 16 16 rectfill\nshowpage\n%%EOF\n")


def test_a_postscript_file_named_like_a_picture_is_refused_without_running_ghostscript(tmp_path, monkeypatch):
    """Pillow picks its decoder from the content: an EPS called photo.png would be drawn by Ghostscript (installed on
    many desktops, a separate interpreter with no time limit). Only the formats in picture_bytes/formats.py are opened."""
    import subprocess
    ran = []
    real = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: ran.append(a) or real(*a, **k))
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: ran.append(a))
    with pytest.raises(PictureError, match="not a picture chatapp can read"):
        intake.decode(EPS, "photo.png")
    (tmp_path / "photo.png").write_bytes(EPS)
    from chatapp.engines.base import EngineError
    from chatapp.engines.img2img import open_picture
    with pytest.raises(EngineError, match="not a picture chatapp can read"):
        open_picture(str(tmp_path / "photo.png"), "source picture")
    assert ran == []


@pytest.mark.parametrize("suffix, fmt", [(".tga", "TGA"), (".ico", "ICO"), (".ppm", "PPM"), (".jfif", "JPEG")])
def test_other_common_picture_files_are_pictures_not_documents(tmp_path, suffix, fmt):
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(out, fmt)
    assert looks_like_picture(f"screen{suffix}")
    picture = intake.decode(out.getvalue(), f"screen{suffix}")
    with Image.open(io.BytesIO(picture.data)) as im:   # a photo stays a JPEG, the rest become PNG
        assert im.format == ("JPEG" if fmt == "JPEG" else "PNG") and im.size == (32, 32)
        assert max(abs(a - b) for a, b in zip(im.getpixel((5, 5))[:3], (10, 200, 10))) <= 4
