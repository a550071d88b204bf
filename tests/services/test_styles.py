"""The style catalogue: enough styles, real previews on disk, packs that hold together."""

import string
from io import BytesIO

import pytest
from PIL import Image

from photoai.providers.generation_base import size_for
from photoai.services import styles
from photoai.services.generation import ASPECT_RATIOS
from photoai.settings import PROJECT_ROOT

ASSETS = PROJECT_ROOT / "assets"


def test_there_are_enough_distinct_styles() -> None:
    assert len(styles.STYLES) >= 16
    ids = [style.id for style in styles.STYLES]
    assert len(set(ids)) == len(ids)
    assert len({style.name for style in styles.STYLES}) == len(ids)
    for style in styles.STYLES:
        assert style.id == style.id.lower() and " " not in style.id
        assert style.name and style.description and style.negative_prompt
        assert style.aspect_ratio in ASPECT_RATIOS
        assert styles.get_style(style.id) is style
    assert styles.get_style("no-such-style") is None


@pytest.mark.parametrize("style", styles.STYLES, ids=lambda style: style.id)
def test_each_preview_is_a_small_real_picture_of_the_styles_shape(style: styles.Style) -> None:
    assert style.preview_path == f"/styles/{style.id}.webp"
    path = ASSETS / style.preview_path.lstrip("/")
    data = path.read_bytes()
    assert len(data) < 40 * 1024
    with Image.open(BytesIO(data)) as picture:
        picture.load()
        assert picture.format == "WEBP"
        assert picture.width == 320
        width, height = size_for(style.aspect_ratio)
        assert picture.height == pytest.approx(320 * height / width, abs=1)
        assert len(picture.convert("L").getcolors(256) or []) > 50, "a photo, not a flat card"


def test_templates_take_exactly_the_subject() -> None:
    for style in styles.STYLES:
        fields = [name for _, name, _, _ in string.Formatter().parse(style.template) if name]
        assert fields == ["subject"], style.id
    headshot = styles.get_style("studio-headshot")
    assert headshot is not None
    trained = headshot.render(styles.model_subject("TOK", "woman"))
    assert trained.startswith("professional studio headshot of TOK woman, ")
    assert "{" not in trained
    instant = headshot.render(styles.instant_subject("man"), "wearing a {red} tie")
    assert "of the man in the reference photos, " in instant
    assert instant.endswith(", wearing a {red} tie"), "the user's words are kept as written"


def test_packs_reference_existing_styles() -> None:
    assert len(styles.PACKS) >= 4
    assert len({pack.id for pack in styles.PACKS}) == len(styles.PACKS)
    for pack in styles.PACKS:
        assert pack.name and pack.description and len(pack.style_ids) >= 3
        assert len(set(pack.style_ids)) == len(pack.style_ids)
        assert [s.id for s in styles.pack_styles(pack)] == list(pack.style_ids)
        assert styles.get_pack(pack.id) is pack
    professional = styles.get_pack("professional")
    assert professional is not None
    assert {"studio-headshot", "linkedin", "corporate-team"} <= set(professional.style_ids)
    assert styles.get_pack("nope") is None


def test_no_stray_preview_files() -> None:
    on_disk = {path.name for path in (ASSETS / "styles").glob("*")}
    assert on_disk == {f"{style.id}.webp" for style in styles.STYLES}
