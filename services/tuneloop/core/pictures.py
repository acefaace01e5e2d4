"""How an image's bytes become the RGB picture everything downstream sees, in one place: dataprep
decodes each upload once with it (to check, hash and describe the image) and training and
evaluation workers decode the stored bytes with it again, so both see the same pixels.

EXIF orientation is applied (a phone's portrait photo stands upright), the first frame of an
animation is taken, and the picture is converted to RGB; transparent pixels are laid over white
(what a viewer shows), not over the black a bare `convert("RGB")` leaves.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps


def open_picture(data: bytes) -> Image.Image:
    """The image in `data`, header read but not decoded (its size is known, its pixels are not)."""
    return Image.open(io.BytesIO(data))


def to_rgb(image: Image.Image) -> Image.Image:
    """Decode `image` (OSError when its data is truncated or corrupt) into upright RGB."""
    image.seek(0)
    image.load()
    image = ImageOps.exif_transpose(image) or image
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def decode_rgb(data: bytes) -> Image.Image:
    return to_rgb(open_picture(data))
