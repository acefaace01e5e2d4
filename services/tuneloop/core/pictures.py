"""How an image's bytes become the RGB picture everything downstream sees, in one place: dataprep
decodes each upload once with it (to check, hash and describe the image) and training and
evaluation workers decode the stored bytes with it again, so both see the same pixels.

EXIF orientation is applied (a phone's portrait photo stands upright), the first frame of an
animation is taken, and the picture is converted to RGB; transparent pixels are laid over white
(what a viewer shows), not over the black a bare `convert("RGB")` leaves.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

TOO_MANY_PIXELS, UNREADABLE = "too_many_pixels", "unreadable_image"


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


class Unreadable(Exception):
    """Bytes that are no picture to use; `reason` is TOO_MANY_PIXELS or UNREADABLE."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def read_checked(data: bytes, max_pixels: int) -> tuple[Image.Image, Image.Image]:
    """(the image as opened, with its source format and mode; its upright RGB picture). Its size is
    read from the header first: past `max_pixels` it is never decoded. Unreadable says why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = open_picture(data)
            if image.width * image.height > max_pixels:
                raise Unreadable(TOO_MANY_PIXELS, f"is {image.width}x{image.height}: at most {max_pixels} pixels")
            return image, to_rgb(image)
    except Image.DecompressionBombError:
        raise Unreadable(TOO_MANY_PIXELS, f"has more than {max_pixels} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises for bytes it cannot read
        raise Unreadable(UNREADABLE, f"is not a readable picture: {exc}") from None
