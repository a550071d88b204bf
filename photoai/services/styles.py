"""The curated styles and style packs people pick instead of writing a prompt.

Each style is a prompt template tuned for portraits of one person: `{subject}` stands for
whoever the picture is of, which differs by source ("TOK woman" for a personal model, whose
trigger word the LoRA needs; "the person in the reference photos" for Instant). A pack is a
named set of styles ordered together, one job per style. Previews are real demo renders made
once by `scripts/make_style_previews.py` and served from `assets/` at the site root.
"""

from dataclasses import dataclass

PREVIEW_ROUTE = "/styles"
SUBJECT = "{subject}"
# What goes wrong in portraits whatever the style; each style adds its own.
BASE_NEGATIVE = (
    "blurry, lowres, deformed face, distorted features, extra fingers, bad hands, "
    "watermark, text, logo"
)


@dataclass(frozen=True)
class Style:
    id: str
    name: str
    description: str
    template: str
    negative: str
    aspect_ratio: str

    @property
    def preview_path(self) -> str:
        """Site-relative address of the preview (Reflex serves assets/ at the root)."""
        return f"{PREVIEW_ROUTE}/{self.id}.webp"

    @property
    def negative_prompt(self) -> str:
        return f"{BASE_NEGATIVE}, {self.negative}" if self.negative else BASE_NEGATIVE

    def render(self, subject: str, details: str = "") -> str:
        """The full prompt; the user's own words, if any, refine the style at the end.

        Plain replacement rather than `str.format`, so braces in the subject stay text.
        """
        prompt = self.template.replace(SUBJECT, subject)
        return f"{prompt}, {details}" if details else prompt


@dataclass(frozen=True)
class Pack:
    id: str
    name: str
    description: str
    style_ids: tuple[str, ...]


STYLES: tuple[Style, ...] = (
    Style(
        "studio-headshot",
        "Studio headshot",
        "Clean, sharp headshot on a seamless grey backdrop.",
        "professional studio headshot of {subject}, soft key light and gentle fill, seamless "
        "grey backdrop, sharp focus on the eyes, 85mm lens, natural skin texture",
        "harsh shadows, busy background",
        "4:5",
    ),
    Style(
        "linkedin",
        "LinkedIn profile",
        "Approachable business-casual portrait for your profile.",
        "friendly professional portrait of {subject} for a LinkedIn profile, business casual "
        "attire, bright modern office softly out of focus behind, relaxed natural smile, even "
        "daylight",
        "sunglasses, hat, dramatic lighting",
        "1:1",
    ),
    Style(
        "corporate-team",
        "Corporate team page",
        "Consistent, evenly lit portrait that fits a company's team page.",
        "corporate team page portrait of {subject}, navy blazer, plain white background, "
        "confident relaxed posture, evenly lit, centred head-and-shoulders framing",
        "casual clothes, cluttered background, tilted framing",
        "4:5",
    ),
    Style(
        "outdoor-portrait",
        "Outdoor portrait",
        "Natural light in a green park, softly blurred background.",
        "natural outdoor portrait of {subject} in a green park, soft overcast daylight, shallow "
        "depth of field, candid expression, leaves softly out of focus",
        "studio backdrop, flash glare",
        "2:3",
    ),
    Style(
        "cinematic",
        "Cinematic",
        "A widescreen movie still with dramatic light and a teal-orange grade.",
        "cinematic movie still of {subject}, dramatic side lighting, anamorphic lens, teal and "
        "orange colour grade, moody atmosphere, widescreen composition",
        "flat lighting, snapshot look",
        "16:9",
    ),
    Style(
        "fashion-editorial",
        "Fashion editorial",
        "Bold magazine styling with striking studio light.",
        "high-fashion editorial photograph of {subject}, designer outfit, bold studio lighting, "
        "magazine cover styling, striking confident pose, crisp detail",
        "amateur snapshot, dull colours",
        "2:3",
    ),
    Style(
        "vintage-film",
        "Vintage film",
        "1970s 35mm look: warm faded colours, grain and light leaks.",
        "vintage 35mm film photo of {subject}, 1970s colours, soft grain, warm faded tones, "
        "subtle light leaks, candid moment",
        "digital sharpness, modern clothing",
        "4:5",
    ),
    Style(
        "black-and-white",
        "Black-and-white classic",
        "Timeless monochrome portrait with sculpted light.",
        "classic black and white portrait of {subject}, dramatic chiaroscuro lighting, fine "
        "grain, deep blacks, timeless elegance",
        "colour, colour cast",
        "4:5",
    ),
    Style(
        "film-noir",
        "Film noir",
        "1940s detective mood: fedora, smoke and venetian-blind shadows.",
        "1940s film noir portrait of {subject}, fedora and trench coat, venetian blind shadows "
        "across the face, smoky office, black and white, high contrast",
        "colour, bright cheerful light",
        "4:5",
    ),
    Style(
        "golden-hour",
        "Golden hour",
        "Warm backlight from the setting sun in a field of tall grass.",
        "golden hour portrait of {subject}, warm backlight from the setting sun, gentle lens "
        "flare, glowing skin, field of tall grass",
        "midday sun, harsh shadows, cold colours",
        "2:3",
    ),
    Style(
        "corporate-outdoor",
        "Modern business outdoors",
        "Business portrait in front of glass office towers.",
        "modern business portrait of {subject} outdoors, tailored suit, glass office towers "
        "softly blurred behind, late afternoon light, confident look",
        "casual clothes, messy background",
        "3:4",
    ),
    Style(
        "cyberpunk-neon",
        "Cyberpunk neon",
        "Rainy night city lit by magenta and cyan neon.",
        "cyberpunk portrait of {subject} in a rainy night city, neon signs in magenta and cyan, "
        "reflections on wet streets, futuristic jacket, cinematic mood",
        "daylight, plain background",
        "9:16",
    ),
    Style(
        "watercolor",
        "Watercolor painting",
        "Loose brush strokes and soft bleeding pigments on paper.",
        "watercolor painting of {subject}, loose expressive brush strokes, soft bleeding "
        "pigments on textured paper, pastel palette, white paper showing through",
        "photograph, photorealistic, hard edges",
        "3:4",
    ),
    Style(
        "oil-painting",
        "Oil painting",
        "Classical museum portrait with rich brushwork.",
        "classical oil painting portrait of {subject}, Rembrandt lighting, rich textured "
        "brushwork, dark background, museum quality, varnished canvas",
        "photograph, photorealistic, cartoon",
        "3:4",
    ),
    Style(
        "astronaut",
        "Astronaut",
        "In a spacesuit aboard a space station, Earth glowing behind.",
        "portrait of {subject} as an astronaut in a white spacesuit, helmet held under the arm, "
        "space station interior, Earth glowing through the window behind",
        "helmet covering the face, cartoon",
        "1:1",
    ),
    Style(
        "fantasy-warrior",
        "Fantasy warrior",
        "Ornate armour, windswept cloak and misty mountains.",
        "epic fantasy portrait of {subject} as a warrior in ornate armour, windswept cloak, "
        "misty mountains, dramatic sky, highly detailed",
        "modern clothing, cartoon, helmet covering the face",
        "2:3",
    ),
    Style(
        "yearbook-90s",
        "90s yearbook",
        "Laser backdrop, soft focus and a slightly cheesy retro smile.",
        "1990s school yearbook photo of {subject}, laser background in blue and purple, soft "
        "focus, retro hairstyle and clothes, slightly cheesy smile",
        "modern smartphone look",
        "4:5",
    ),
    Style(
        "beach-vacation",
        "Beach vacation",
        "Sunny tropical beach, turquoise water and palm trees.",
        "vacation photo of {subject} on a sunny tropical beach, turquoise water, palm trees, "
        "relaxed smile, bright summer light",
        "overcast sky, crowded beach",
        "3:4",
    ),
    Style(
        "coffee-shop",
        "Coffee shop candid",
        "Relaxed candid by the window of a cosy café.",
        "candid photo of {subject} in a cosy coffee shop, holding a latte by the window, warm "
        "ambient light, shallow depth of field, relaxed moment",
        "posed studio look, harsh flash",
        "4:5",
    ),
    Style(
        "snowy-mountains",
        "Snowy mountains",
        "Winter adventure portrait under a crisp blue sky.",
        "adventure portrait of {subject} in the snowy mountains, wool hat and winter jacket, "
        "crisp blue sky, snowflakes in the air, bright snow light",
        "summer clothes, green grass",
        "2:3",
    ),
)

PACKS: tuple[Pack, ...] = (
    Pack(
        "professional",
        "Professional",
        "Headshots for your CV, LinkedIn and the company site.",
        ("studio-headshot", "linkedin", "corporate-team", "corporate-outdoor"),
    ),
    Pack(
        "creative",
        "Creative",
        "Cinema, fashion, paint and neon.",
        ("cinematic", "fashion-editorial", "watercolor", "oil-painting", "cyberpunk-neon"),
    ),
    Pack(
        "vintage",
        "Vintage",
        "Film grain, monochrome and a trip to the 90s.",
        ("vintage-film", "black-and-white", "film-noir", "yearbook-90s"),
    ),
    Pack(
        "adventure",
        "Adventure",
        "Space, fantasy, mountains and the beach.",
        ("astronaut", "fantasy-warrior", "snowy-mountains", "beach-vacation"),
    ),
    Pack(
        "lifestyle",
        "Lifestyle",
        "Everyday moments in beautiful light.",
        ("golden-hour", "coffee-shop", "outdoor-portrait", "beach-vacation"),
    ),
)

_STYLES_BY_ID = {style.id: style for style in STYLES}
_PACKS_BY_ID = {pack.id: pack for pack in PACKS}


def get_style(style_id: str) -> Style | None:
    return _STYLES_BY_ID.get(style_id)


def get_pack(pack_id: str) -> Pack | None:
    return _PACKS_BY_ID.get(pack_id)


def pack_styles(pack: Pack) -> list[Style]:
    return [_STYLES_BY_ID[style_id] for style_id in pack.style_ids]


def model_subject(trigger_word: str, subject: str) -> str:
    """Who a personal model's pictures show: the trigger word the LoRA learned, then the kind
    of subject ("TOK woman"), which steers the base model's anatomy."""
    return f"{trigger_word} {subject}"


def instant_subject(subject: str) -> str:
    """Who an Instant picture shows: the likeness comes from the photos sent along."""
    return f"the {subject} in the reference photos"
