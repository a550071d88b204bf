"""All configuration in one place, read from the environment and `.env`.

Every field has an embedded default so that a first run needs no configuration at all;
`.env.example` documents each variable. Env vars are prefixed `PHOTOAI_`.
"""

import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from photoai.services.billing.catalog import CreditPacks, Plans, default_packs, default_plans

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Operator settings; tests build their own instances instead of touching the cache."""

    model_config = SettingsConfigDict(
        env_prefix="PHOTOAI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_name: str = "photoai"
    base_url: str = "http://localhost:3000"
    secret_key: str = Field(
        default="",
        description="Keys token hashes and file-link signatures. Empty: a random key is made "
        "once and kept in data_dir/secret_key.",
    )
    data_dir: Path = PROJECT_ROOT / "data"

    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_required: bool = False
    queue_name: str = Field(
        default="photoai", description="RQ queue; give each installation sharing a Redis its own."
    )
    job_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="Niceness of worker.py and its job processes: on a CPU shared with the "
        "web backends, pages are served first and jobs take what is left.",
    )

    starter_credits: int = Field(
        default=50, ge=0, description="Enough for one training and a first batch of images."
    )
    session_days: int = 30
    reset_token_minutes: int = 30
    login_ticket_seconds: int = 60
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = Field(
        default=50,
        ge=1,
        description="Failed sign-ins from one address after which every sign-in from it waits.",
    )
    login_ip_max_delay_seconds: float = Field(
        default=8.0, ge=0, description="Longest wait a busy address gets before each sign-in."
    )
    login_throttle_window_seconds: int = 900
    event_burst: int = Field(
        default=30, ge=1, description="Websocket events a tab may send at once before throttling."
    )
    event_rate: float = Field(
        default=10.0, gt=0, description="Websocket events per second a tab may send sustained."
    )
    user_event_limit: int = Field(
        default=300,
        ge=1,
        description="Websocket events one signed-in user may send per window, all tabs together.",
    )
    user_event_window_seconds: int = Field(default=10, ge=1)
    signup_link_hours: int = Field(
        default=24, ge=1, description="How long the emailed link that finishes signing up works."
    )
    password_min_length: int = 10
    bcrypt_rounds: int = 12
    session_cookie_name: str = "photoai_session"
    cookie_secure: bool = False

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "photoai <no-reply@localhost>"

    job_timeout_seconds: int = 1800
    job_max_attempts: int = 3
    job_heartbeat_seconds: int = 15
    job_stale_after_seconds: int = 120

    # --- storage and photos (issue: personal models) ---
    storage_backend: str = Field(
        default="local",
        pattern="^(local|s3)$",
        description="`local` keeps files under data_dir/storage; `s3` any S3-compatible store.",
    )
    s3_bucket: str = ""
    s3_region: str = ""
    s3_endpoint_url: str = Field(default="", description="Set for R2, MinIO and other non-AWS S3.")
    s3_access_key_id: str = Field(default="", description="Empty: boto3's own credential chain.")
    s3_secret_access_key: str = ""
    signed_url_seconds: int = Field(
        default=300, ge=10, le=3600, description="Life of a private file link (GET or PUT)."
    )
    max_upload_bytes: int = 25 * 1024 * 1024
    # Each scrolled gallery page costs the browser one round trip whatever its size, so bigger
    # pages scroll a long gallery sooner; 96 pictures are about 21 KB of JSON and fill whole
    # rows at 2, 3, 4 and 6 columns. At most services.gallery.MAX_PAGE.
    gallery_page_size: int = Field(
        default=96, ge=12, le=100, description="Pictures per gallery page the browser fetches."
    )
    max_pixels: int = Field(
        default=50_000_000, description="Refused from the file header, before any decoding."
    )
    max_request_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest body a webhook route reads; more is refused (413), chunked too.",
    )
    photo_decode_budget_mb: int = Field(
        default=112,
        ge=16,
        description="Memory one photo check may spend decoding; larger pictures are refused "
        "with the limit named (JPEG decodes at reduced scale, so rarely reaches it).",
    )
    photo_check_concurrency: int = Field(
        default=2, ge=1, description="Photo checks running at once per process."
    )
    min_side_px: int = 512
    training_side_px: int = 1024
    thumb_side_px: int = 256
    # Measured at the 512 px analysis size: sharp portraits score 85-1000, a Gaussian blur of
    # sigma 1 px about 50-80 and of sigma 2 px 10-20.
    blur_threshold: float = Field(
        default=40.0, description="Contrast-scaled Laplacian variance on the face; lower is blurry."
    )
    min_face_ratio: float = Field(
        default=0.1, description="Largest face's width over the picture's shorter side."
    )
    # Re-encoded, resized, relit or 3 %-trimmed copies differ by 0-8 bits; different crops,
    # mirror images or a 10 degree tilt of the same portrait by 16 or more.
    dedupe_max_distance: int = Field(
        default=10, description="Perceptual-hash bits that may differ for a near duplicate."
    )
    # dlib's 128-d embeddings are trained so one person's faces fall within 0.6. Measured in
    # bench/likeness_eval.py on two real portraits in 15 variants each (crops, mirror, tilt,
    # light, grey, blur, JPEG q25, dark glasses): same person 0.05-0.59, different people
    # 0.57-0.72. At 0.6, 1.4 % of different-people pairs pass; at 0.55 none do (0.3 % against
    # 25 px LFW faces) and 0.5 % of same-person pairs fail (dark glasses with blur). A wrong
    # accept merges two people into one set and pays for a picture of someone else, so 0.55.
    likeness_threshold: float = Field(
        default=0.55,
        gt=0,
        lt=2,
        description="Face embedding distance up to which two faces count as the same person.",
    )
    model_quality_samples: int = Field(
        default=2,
        ge=0,
        le=4,
        description="Sample pictures made (not charged) right after a training to show the "
        "model's likeness on its page; 0 turns the check off.",
    )
    likeness_reroll: bool = Field(
        default=False,
        description="Ask the provider once more for a delivered picture that does not look "
        "like the user (one more provider call, still at most one charge) instead of "
        "releasing its credit at once.",
    )
    min_photos: int = 8
    max_photos: int = 30
    max_drafts_per_user: int = Field(
        default=3, ge=1, description="Models a user may have waiting for training at once."
    )

    # --- privacy and retention (issue 12) ---
    photo_retention_days: int = Field(
        default=30,
        ge=0,
        description="Training photos are deleted this long after their model finished "
        "training (the model keeps its weights); 0 keeps them.",
    )
    draft_retention_days: int = Field(
        default=60, ge=1, description="Untrained draft models untouched this long are deleted."
    )
    export_link_hours: int = Field(
        default=48,
        ge=1,
        le=168,
        description="Life of a data export's download link; the ZIP is deleted after it.",
    )

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    # --- training providers ---
    trainer: str = Field(
        default="demo",
        pattern="^(demo|fal|replicate)$",
        description="Who trains personal models; `demo` works offline and is labelled as such.",
    )
    demo_training_seconds: int = Field(
        default=20, ge=1, description="How long a demo training pretends to take."
    )
    fal_key: str = Field(default="", description="fal.ai API key (`Authorization: Key ...`).")
    fal_queue_base: str = "https://queue.fal.run"
    fal_api_base: str = Field(
        default="https://api.fal.ai",
        description="fal's Platform API, used to delete a deleted model's stored requests.",
    )
    fal_jwks_url: str = Field(
        default="https://rest.alpha.fal.ai/.well-known/jwks.json",
        description="Public keys that sign fal's webhooks.",
    )
    fal_trainer_app: str = Field(
        default="fal-ai/flux-lora-fast-training",
        description="Or fal-ai/flux-lora-portrait-trainer (needs at least 10 photos).",
    )
    replicate_api_token: str = ""
    replicate_base: str = "https://api.replicate.com"
    replicate_webhook_secret: str = Field(
        default="", description="The account's whsec_... webhook signing secret."
    )
    replicate_trainer: str = Field(
        default="ostris/flux-dev-lora-trainer",
        description="owner/name; its latest version is looked up, never hard-coded.",
    )
    replicate_destination_owner: str = Field(
        default="", description="Replicate account that receives the trained versions."
    )
    replicate_destination_model: str = Field(
        default="photoai-loras", description="Private model created on first use if missing."
    )
    training_steps: int = Field(default=1000, ge=10, le=6000)
    training_deadline_minutes: int = Field(
        default=120, ge=5, description="A training still unfinished by then fails and refunds."
    )
    training_poll_after_seconds: int = Field(
        default=300, ge=10, description="Ask the provider about a training silent this long."
    )
    provider_timeout_seconds: float = Field(default=30.0, gt=0)
    public_base_url: str = Field(
        default="",
        description="Address providers use for webhooks and input files; empty: base_url.",
    )

    @property
    def resolved_public_base_url(self) -> str:
        return (self.public_base_url or self.base_url).rstrip("/")

    # --- generation providers ---
    generators: list[str] = Field(
        default_factory=lambda: ["demo"],
        min_length=1,
        description="Ordered fallback of image generators: demo, together, fal, replicate.",
    )
    together_api_key: str = ""
    together_base_url: str = "https://api.together.xyz"
    together_model: str = Field(
        default="black-forest-labs/FLUX.1-schnell", description="Plain prompts, no likeness."
    )
    together_lora_model: str = Field(
        default="black-forest-labs/FLUX.2-dev", description="Personal models (image_loras)."
    )
    together_instant_model: str = Field(
        default="black-forest-labs/FLUX.2-pro",
        description="Instant likeness from uploaded photos: FLUX.2 (reference_images) or "
        "FLUX.1-kontext (image_url, first photo only).",
    )
    fal_run_base: str = Field(
        default="https://fal.run", description="fal's synchronous inference host."
    )
    generation_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Longest wait for one provider's images."
    )
    max_prompt_chars: int = Field(default=1500, ge=10)
    blocked_terms: list[str] = Field(
        default_factory=lambda: ["nude", "naked", "nsfw", "porn", "topless", "sexual"],
        description="Prompts containing any of these words are refused before any provider.",
    )
    picture_undo_seconds: int = Field(
        default=600,
        ge=10,
        le=7 * 24 * 3600,
        description="How long a deleted picture can be restored before it is removed for good.",
    )

    # --- billing (issue: Stripe) ---
    stripe_secret_key: str = Field(
        default="", description="Empty turns billing off: no checkout, starter credits only."
    )
    stripe_webhook_secret: str = Field(
        default="", description="The whsec_... secret of the endpoint /api/stripe/webhook."
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", description="Changed only to reach a local fake Stripe."
    )
    stripe_max_network_retries: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Retries on network errors, 409 and 5xx; safe as every POST is idempotent.",
    )
    stripe_timeout_seconds: float = Field(default=20.0, gt=0)
    credit_packs: CreditPacks = Field(
        default_factory=default_packs, description="JSON list of credit packs on sale."
    )
    plans: Plans = Field(default_factory=default_plans, description="JSON list of monthly plans.")
    training_cost_credits: int = Field(default=30, gt=0, description="Price of one training.")
    image_cost_credits: int = Field(default=1, gt=0, description="Price of one delivered image.")
    low_credit_threshold: int = Field(
        default=10, ge=0, description="One email when the balance falls below this."
    )
    billing_reconcile_days: int = Field(
        default=3, ge=1, le=30, description="How far back `billing reconcile` looks at Stripe."
    )

    # --- monitoring (issue: operate it for real) ---
    log_format: str = Field(
        default="auto",
        pattern="^(auto|json|console)$",
        description="json: one JSON object per line; console: readable; auto: console on a tty.",
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    sentry_dsn: str = Field(default="", description="Empty turns error reporting off.")
    sentry_environment: str = "production"
    sentry_release: str = ""
    sentry_traces_sample_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of requests traced for performance."
    )
    sentry_send_personal_data: bool = Field(
        default=False,
        description="Opt in to emails, prompts, request bodies and local variables in reports.",
    )
    posthog_api_key: str = Field(default="", description="Empty turns product analytics off.")
    posthog_host: str = "https://us.i.posthog.com"
    posthog_max_queue_size: int = Field(
        default=10000, ge=1, description="Events waiting to be sent; beyond it they are dropped."
    )
    posthog_timeout_seconds: float = Field(default=5.0, gt=0)
    metrics_token: str = Field(
        default="", description="Bearer token for /metrics; empty: /metrics answers 404."
    )

    @property
    def resolved_database_url(self) -> str:
        """SQLite file in the data folder unless an operator points us at PostgreSQL."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'photoai.db'}"

    @cached_property
    def signing_key(self) -> str:
        """The operator's secret, or one generated on first run and shared through data_dir.

        Read once per Settings: every websocket event hashes the session token with it, and
        the file never changes once the first process created it."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f"secret_key.{os.getpid()}")
            draft.write_text(secrets.token_urlsafe(48))
            draft.chmod(0o600)
            try:
                os.link(draft, path)  # atomic: the first process to get here wins
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return path.read_text().strip()

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"


@lru_cache
def get_settings() -> Settings:
    return Settings()
