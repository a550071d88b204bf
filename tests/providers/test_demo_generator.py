"""The demo generator: real, labelled, reproducible pictures made from the user's photos."""

from io import BytesIO

import pytest
from PIL import Image, ImageStat

from photoai.providers.base import ProviderRejected
from photoai.providers.demo_generator import DemoGenerator
from photoai.providers.generation_base import ASPECT_SIZES, GenerationRequest, size_for

MONO = "black and white portrait in a studio"


def photo(grey: int, size: tuple[int, int] = (900, 1200)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (grey, grey, grey)).save(out, format="JPEG")
    return out.getvalue()


def pictures(request: GenerationRequest) -> list[Image.Image]:
    outputs = DemoGenerator().generate(request)
    assert all(o.content_type == "image/jpeg" and o.url is None for o in outputs)
    return [Image.open(BytesIO(o.data or b"")) for o in outputs]


def centre_brightness(picture: Image.Image) -> float:
    width, height = picture.size
    middle = picture.crop((width // 3, height // 3, 2 * width // 3, 2 * height // 3))
    return float(ImageStat.Stat(middle.convert("L")).mean[0])


@pytest.mark.parametrize("ratio", sorted(ASPECT_SIZES))
def test_pictures_are_jpegs_of_the_requested_size(ratio: str) -> None:
    width, height = size_for(ratio)
    request = GenerationRequest(
        prompt="on a mountain", width=width, height=height, seed=1, reference_images=[photo(128)]
    )
    [picture] = pictures(request)
    assert picture.format == "JPEG" and picture.size == (width, height)


def test_the_same_seed_and_prompt_give_the_same_picture() -> None:
    def once(prompt: str, seed: int) -> bytes | None:
        request = GenerationRequest(prompt=prompt, seed=seed, reference_images=[photo(90)])
        return DemoGenerator().generate(request)[0].data

    assert once("in a forest", 3) == once("in a forest", 3)
    assert once("in a forest", 3) != once("in a forest", 4)
    assert once("in a forest", 3) != once("in a desert", 3)


def test_a_batch_has_distinct_pictures_with_consecutive_seeds() -> None:
    outputs = DemoGenerator().generate(
        GenerationRequest(prompt="neon city", n=4, seed=10, reference_images=[photo(120)])
    )
    assert [o.seed for o in outputs] == [10, 11, 12, 13]
    assert len({o.data for o in outputs}) == 4


def test_without_a_seed_one_is_chosen_and_reported() -> None:
    [output] = DemoGenerator().generate(GenerationRequest(prompt="a boat"))
    assert isinstance(output.seed, int)
    again = DemoGenerator().generate(GenerationRequest(prompt="a boat", seed=output.seed))
    assert again[0].data == output.data


def test_the_seed_picks_which_of_the_users_photos_is_used() -> None:
    light, dark = photo(235), photo(20)
    request = GenerationRequest(prompt=MONO, n=2, seed=0, reference_images=[light, dark])
    first, second = pictures(request)
    assert centre_brightness(first) > 150 > 90 > centre_brightness(second)


def test_every_picture_carries_a_visible_demo_label() -> None:
    [picture] = pictures(
        GenerationRequest(prompt=MONO, width=512, height=512, reference_images=[photo(128)])
    )
    grey = picture.convert("L")
    darkest, brightest = ImageStat.Stat(grey.crop((512 - 120, 512 - 50, 512, 512))).extrema[0]
    assert darkest < 30 and brightest > 225, "white lettering on a black tag"
    top_left = ImageStat.Stat(grey.crop((0, 0, 120, 50))).extrema[0]
    assert top_left[1] < 225, "the label sits in one corner only"


def test_works_without_photos_and_for_every_mode() -> None:
    generator = DemoGenerator()
    for request in (
        GenerationRequest(prompt="a lake"),
        GenerationRequest(prompt="a lake", lora_url="https://x/l.safetensors", trigger_word="TOK"),
        GenerationRequest(prompt="a lake", trained_version="acme/m:1"),
        GenerationRequest(prompt="a lake", reference_image_urls=["https://x/a.jpg"]),
    ):
        assert generator.supports(request)
        [picture] = pictures(request)
        assert picture.size == (1024, 1024)


def test_an_unreadable_photo_is_refused() -> None:
    request = GenerationRequest(prompt="a lake", reference_images=[b"not a photo"])
    with pytest.raises(ProviderRejected, match="not a readable image"):
        DemoGenerator().generate(request)
