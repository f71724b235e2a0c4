"""Opening any image file a user keeps, as a Pillow image: the formats Pillow reads itself, plus

- HEIC/HEIF (pillow-heif) and JPEG XL (pillow-jxl-plugin), registered as Pillow plugins;
- PSD and PSB: the flattened composite through psd-tools, rendered from the layers when the file
  was saved without one;
- KRA (Krita) and ORA (OpenRaster): the ``mergedimage.png`` inside the zip;
- camera RAW (DNG, CR2, NEF, ARW, ...) through rawpy, the ``latentfolio[raw]`` extra.

Formats that are known but not read (GIMP's XCF, Paint.NET's PDN) get a reason that says what to
do. Every file is sniffed by its first bytes; only RAW, whose containers look like TIFF, is told
by its name.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib

from PIL import Image

try:  # HEIC/HEIF
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - a dependency; kept optional for slim installs
    pillow_heif = None
try:  # JPEG XL (registers itself)
    import pillow_jxl  # noqa: F401
except ImportError:  # pragma: no cover
    pillow_jxl = None


RAW_SUFFIXES = frozenset({".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf",
                          ".orf", ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".mrw", ".rwl",
                          ".iiq", ".mef", ".mos"})
ZIP_MIMETYPES = {b"image/openraster": "ORA", b"application/x-krita": "KRA"}
KNOWN_UNREAD = {  # magic -> why it is not read
    b"gimp xcf": "a GIMP XCF file, which latentfolio does not read; export it as PNG or TIFF",
    b"PDN3": "a Paint.NET PDN file, which latentfolio does not read; save it as PNG or TIFF",
}
# The formats a command can write back as the input's own kind of file (denoise): the rest become
# PNG, or a 16-bit TIFF for 16-bit input, and the command says so.
WRITABLE = frozenset({"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF", "AVIF", "JXL", "HEIF"})


class FormatError(Exception):
    """The file is of a kind that cannot be read here; the message says why and what to do."""


def suffix_of(name) -> str:
    return os.path.splitext(str(name))[1].lower()


def _read_head(fp, n: int = 64) -> bytes:
    if hasattr(fp, "read"):
        pos = fp.tell()
        head = fp.read(n)
        fp.seek(pos)
        return head
    with open(fp, "rb") as f:
        return f.read(n)


def _layered_zip(fp):
    """(zip, "ORA" or "KRA") when ``fp`` is an OpenDocument-style zip whose ``mimetype`` names one
    (it is not always the first member, as the spec asks); else None."""
    if not _read_head(fp, 4).startswith(b"PK\x03\x04"):
        return None
    try:
        z = zipfile.ZipFile(fp)
        info = z.getinfo("mimetype")
        mime = z.read(info).strip() if info.file_size < 256 else b""
    except (KeyError, zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, ValueError):
        return None
    kind = ZIP_MIMETYPES.get(mime)
    return (z, kind) if kind else None


def _limit(max_pixels: int | None) -> int:
    return Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels


def _check_member(info: zipfile.ZipInfo, kind: str, max_pixels: int | None) -> None:
    limit = _limit(max_pixels)
    if limit and info.file_size > 8 * limit + (1 << 20):  # an inflate bomb, before Pillow's own check
        raise FormatError(f"{kind} file's {info.filename} inflates to {info.file_size:,} bytes")


def _member_image(z: zipfile.ZipFile, name: str, kind: str, max_pixels: int | None) -> Image.Image:
    info = z.getinfo(name)
    _check_member(info, kind, max_pixels)
    try:
        img = Image.open(io.BytesIO(z.read(info)))
        img.load()
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:  # a member failing its CRC, cut short
        raise FormatError(f"{kind} file's {name} is damaged ({e})") from None
    return img


def _member_size(z: zipfile.ZipFile, name: str, kind: str) -> tuple[int, int]:
    """A layer's size from its image header alone (nothing decoded)."""
    try:
        with z.open(name) as f, Image.open(f) as img:
            return img.size
    except KeyError:
        raise FormatError(f"{kind} file's layer {name} is missing") from None
    except Exception as e:  # noqa: BLE001  any failure to read a header: a damaged layer
        raise FormatError(f"{kind} file's layer {name} is damaged ({str(e) or type(e).__name__})") from None


LAYER_BUDGET = 16  # an ORA's layers may hold this many canvases' worth of pixels in all


def _check_layers(z: zipfile.ZipFile, layers: list, w: int, h: int, kind: str, limit: int) -> None:
    """Refuse, from the layers' headers alone, a stack whose decoding would cost far more than its
    canvas: a layer larger than the pixel limit or than 4 canvases, or layers that hold more than
    LAYER_BUDGET canvases (or 4 pixel limits) in all."""
    total, budget = 0, min(LAYER_BUDGET * w * h, 4 * limit) if limit else LAYER_BUDGET * w * h
    for src, *_ in layers:
        lw, lh = _member_size(z, src, kind)
        n = lw * lh
        if (limit and n > limit) or n > 4 * w * h:
            raise Image.DecompressionBombError(f"Image size ({n} pixels) exceeds limit "
                                               f"(layer {src} of a {w}x{h} {kind} file)")
        total += n
        if total > budget:
            raise FormatError(f"{kind} file's {len(layers)} layers hold over {budget:,} pixels in all "
                              f"(for a {w}x{h} canvas); save it with a merged image")


def _stack_layers(node, x0: int = 0, y0: int = 0):
    """(src, x, y, opacity) of the visible layers in an ORA stack, bottom first."""
    for child in reversed(list(node)):
        if child.get("visibility", "visible") == "hidden":
            continue
        x, y = x0 + int(float(child.get("x", 0))), y0 + int(float(child.get("y", 0)))
        if child.tag == "stack":
            yield from _stack_layers(child, x, y)
        elif child.tag == "layer" and child.get("src"):
            yield child.get("src"), x, y, float(child.get("opacity", 1.0))


def _render_stack(z: zipfile.ZipFile, kind: str, max_pixels: int | None) -> Image.Image:
    """An ORA without a merged image, flattened from ``stack.xml``: every visible layer drawn over
    the ones below it (normal blending, with its opacity and offset)."""
    import xml.etree.ElementTree as ET

    try:
        info = z.getinfo("stack.xml")
        if info.file_size > 1 << 22:
            raise FormatError(f"{kind} file's stack.xml is {info.file_size:,} bytes")
        root = ET.fromstring(z.read(info))
        w, h = int(root.get("w")), int(root.get("h"))
    except (KeyError, ET.ParseError, TypeError, ValueError):
        raise FormatError(f"{kind} file without a merged image (mergedimage.png) or a readable layer "
                          "stack; save it again from the painting application") from None
    limit = _limit(max_pixels)
    if w <= 0 or h <= 0 or (limit and w * h > limit):
        raise Image.DecompressionBombError(f"Image size ({w * h} pixels) exceeds limit")
    layers = list(_stack_layers(root.find("stack") if root.find("stack") is not None else root))
    _check_layers(z, layers, w, h, kind, limit)
    canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    for src, x, y, opacity in layers:
        try:
            layer = _member_image(z, src, kind, max_pixels).convert("RGBA")
        except KeyError:
            raise FormatError(f"{kind} file's layer {src} is missing") from None
        if opacity < 1:
            layer.putalpha(layer.getchannel("A").point(lambda a: int(a * max(0.0, opacity) + 0.5)))
        canvas.alpha_composite(layer, (max(0, x), max(0, y)), (max(0, -x), max(0, -y)))
    return canvas


def _layered(z: zipfile.ZipFile, kind: str, max_pixels: int | None) -> Image.Image:
    """The ``mergedimage.png`` of an ORA or KRA file, else (ORA) its layers flattened."""
    try:
        img = _member_image(z, "mergedimage.png", kind, max_pixels)
    except KeyError:
        if kind != "ORA":
            raise FormatError(f"{kind} file without a merged image (mergedimage.png); "
                              "save it again from Krita") from None
        img = _render_stack(z, kind, max_pixels)
    img.format_of_file = kind
    return img


def _psd(fp, max_pixels: int | None) -> Image.Image:
    """A PSD/PSB's composite: the saved one, else rendered from its layers by psd-tools."""
    try:
        from psd_tools import PSDImage
    except ImportError:  # pragma: no cover - a dependency
        raise FormatError("a PSD needs psd-tools (pip install psd-tools)") from None
    try:
        psd = PSDImage.open(fp)
        w, h = psd.size
        limit = _limit(max_pixels)
        if limit and w * h > limit:
            raise Image.DecompressionBombError(f"Image size ({w * h} pixels) exceeds limit")
        img = psd.composite()
    except (Image.DecompressionBombError, FormatError):
        raise
    except Exception as e:  # psd-tools raises many kinds on a damaged file
        raise FormatError(f"corrupt or unsupported PSD ({str(e) or type(e).__name__})") from None
    if img is None:
        raise FormatError("PSD without a composite image and without layers to render it from")
    try:  # the document's colour profile (image resource 1039), which psd-tools' composite drops
        from psd_tools.constants import Resource

        icc = psd.image_resources.get_data(Resource.ICC_PROFILE)
    except Exception:  # a damaged resource block: the picture is still good
        icc = None
    if isinstance(icc, bytes | bytearray) and icc:
        img.info["icc_profile"] = bytes(icc)
    img.format_of_file = "PSB" if psd.version == 2 else "PSD"
    return img


def _file_bytes(fp) -> int:
    if hasattr(fp, "seek"):
        pos = fp.tell()
        n = fp.seek(0, os.SEEK_END)
        fp.seek(pos)
        return n
    return os.path.getsize(fp)


def _raw(fp, max_pixels: int | None, small: int | None) -> Image.Image:
    """A camera RAW developed with the camera's white balance, as 8-bit RGB."""
    try:
        import rawpy
    except ImportError:
        raise FormatError("a camera RAW file needs latentfolio[raw] (pip install 'latentfolio[raw]')") from None
    try:
        with rawpy.imread(fp if hasattr(fp, "read") else os.fspath(fp)) as raw:  # (not a Path)
            s = raw.sizes
            limit = _limit(max_pixels)
            if limit and s.width * s.height > limit:
                raise Image.DecompressionBombError(f"Image size ({s.width * s.height} pixels) exceeds limit")
            # half_size skips demosaicing (a 2x2 block per pixel): 4x faster, for small targets
            half = small is not None and min(s.width, s.height) >= 4 * small
            if _file_bytes(fp) * 16 < s.raw_width * s.raw_height:  # not even 1 bit per 16 pixels:
                raise FormatError("camera RAW file without pixel data (metadata only)")  # LibRaw would
                # develop uninitialised memory
            rgb = raw.postprocess(use_camera_wb=True, output_bps=8, half_size=half)
    except (Image.DecompressionBombError, FormatError):
        raise
    except Exception as e:  # rawpy's LibRawError family, on a damaged or pixel-less file
        raise FormatError(f"camera RAW file that cannot be developed ({str(e) or type(e).__name__})") from None
    img = Image.fromarray(rgb, "RGB")
    img.format_of_file = "RAW"
    return img


JXL_CODESTREAM, JXL_CONTAINER = b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _jxl_codestream(fp) -> bytes | None:
    """The first bytes of a JPEG XL codestream, bare or in its ISOBMFF container (``jxlc`` or the
    first ``jxlp`` box), read without decoding anything."""
    head = _read_head(fp, 4096)
    if head.startswith(JXL_CODESTREAM):
        return head
    pos = 0
    while pos + 8 <= len(head):
        size, kind = int.from_bytes(head[pos:pos + 4], "big"), head[pos + 4:pos + 8]
        body = pos + 8
        if size == 1:  # a 64-bit size follows
            size, body = int.from_bytes(head[pos + 8:pos + 16], "big"), pos + 16
        if kind == b"jxlc":
            return head[body:]
        if kind == b"jxlp":
            return head[body + 4:]  # after the part's index
        if size < 8:
            return None
        pos += size
    return None


def jxl_size(fp) -> tuple[int, int] | None:
    """(width, height) declared by a JPEG XL file's SizeHeader (ISO/IEC 18181-1, A.3), or None.
    pillow-jxl decodes the whole image inside ``Image.open``, so the pixel limit is checked here,
    before it is called."""
    cs = _jxl_codestream(fp)
    if not cs or not cs.startswith(JXL_CODESTREAM) or len(cs) < 12:
        return None
    bits = int.from_bytes(cs[2:12], "little")  # the header's bits, least significant first
    pos = 0

    def u(n: int) -> int:
        nonlocal pos
        v = (bits >> pos) & ((1 << n) - 1)
        pos += n
        return v

    def u32() -> int:
        return u((9, 13, 18, 30)[u(2)]) + 1

    small = u(1)
    height = 8 * (u(5) + 1) if small else u32()
    ratio = u(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio]
        width = height * num // den
    else:
        width = 8 * (u(5) + 1) if small else u32()
    return width, height


def open_any(fp, name=None, max_pixels: int | None = None, small: int | None = None) -> Image.Image:
    """Open ``fp`` (a path or a binary file object; ``name`` is its file name when ``fp`` is an
    object) as a Pillow image, lazily where Pillow reads the format itself (so ``draft`` still
    works). ``small``: the target size, when only a small version is needed (RAW decodes at half
    size then). ``img.format_of_file`` is set for formats Pillow does not know (PSD, ORA, ...)."""
    name = fp if name is None else name
    if suffix_of(name) in RAW_SUFFIXES:
        return _raw(fp, max_pixels, small)
    head = _read_head(fp)
    if head.startswith(b"8BPS"):
        return _psd(fp, max_pixels)
    layered = _layered_zip(fp)
    if layered:
        with layered[0]:  # the picture is read whole: the zip can close
            return _layered(*layered, max_pixels)
    for magic, why in KNOWN_UNREAD.items():
        if head.startswith(magic):
            raise FormatError(why)
    if head.startswith((JXL_CODESTREAM, JXL_CONTAINER)):
        size, limit = jxl_size(fp), _limit(max_pixels)
        if size and limit and size[0] * size[1] > limit:
            raise Image.DecompressionBombError(f"Image size ({size[0] * size[1]} pixels) exceeds limit")
    return Image.open(fp)


def format_of(img: Image.Image) -> str | None:
    """The kind of file an image came from: Pillow's format name, or ours (PSD, ORA, KRA, RAW)."""
    return getattr(img, "format_of_file", None) or img.format
