"""Models: the list, a new draft, and one model with its photos and training."""

from typing import cast

import reflex as rx
from reflex.vars import ObjectVar

from photoai.components.forms import (
    error_callout,
    field,
    labelled_group,
    notice_callout,
    submit_form,
)
from photoai.components.layout import app_page
from photoai.components.model_cards import (
    demo_badge,
    model_card,
    photo_tile,
    progress_line,
    status_badge,
)
from photoai.components.privacy import consent_step
from photoai.components.wording import counted
from photoai.state.models import ModelDetailState, ModelsState, NewModelState

UPLOAD_ID = "photos"
ACCEPTED_TYPES = {
    "image/jpeg": [".jpg", ".jpeg"],
    "image/png": [".png"],
    "image/webp": [".webp"],
    "image/heic": [".heic", ".heif"],
}


def models_page() -> rx.Component:
    return app_page(
        "Models",
        "/models",
        rx.hstack(
            rx.text(
                "A personal model learns your face from ",
                ModelsState.photo_range,
                " photos, then generates new photos of you.",
                color=rx.color("gray", 11),
            ),
            rx.spacer(),
            rx.link(rx.button(rx.icon("plus", size=16), "New model"), href="/models/new"),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            ModelsState.models.length() > 0,
            rx.grid(
                rx.foreach(ModelsState.models, model_card),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="4",
                width="100%",
            ),
            rx.cond(
                ModelsState.loaded,
                rx.card(
                    rx.vstack(
                        rx.icon("user-round-plus", size=32, color=rx.color("accent", 9)),
                        rx.heading("No models yet", size="4", as_="h2"),
                        rx.text("Create your first model: name it, then add your photos."),
                        rx.link(rx.button("Create a model"), href="/models/new"),
                        align="center",
                        spacing="3",
                        padding="2em",
                    ),
                    width="100%",
                ),
            ),
        ),
    )


def new_model_page() -> rx.Component:
    return app_page(
        "New model",
        "/models",
        rx.card(
            rx.vstack(
                rx.text(
                    "Give your model a name and say who it is of. Next you add the photos.",
                    color=rx.color("gray", 11),
                ),
                error_callout(NewModelState.error),
                submit_form(
                    field("Name", "name", placeholder="Me, summer 2026", max_length=80),
                    labelled_group(
                        "Who is in the photos?",
                        "subject-label",
                        rx.radio_group(
                            ["woman", "man", "person", "pet"],
                            name="subject",
                            default_value="person",
                            direction="row",
                            spacing="4",
                            aria_labelledby="subject-label",
                        ),
                        width="100%",
                    ),
                    label="Create and add photos",
                    on_submit=NewModelState.create,
                    busy=NewModelState.busy,
                ),
                spacing="4",
                width="100%",
                max_width="480px",
            ),
            width="100%",
        ),
    )


def _model() -> ObjectVar[dict[str, str]]:
    # Reflex's stubs match a dict field to the sequence overload; it is an object var.
    return cast(ObjectVar[dict[str, str]], ModelDetailState.model)


def _facts() -> rx.Component:
    model = _model()
    return rx.card(
        rx.vstack(
            rx.hstack(
                status_badge(model["status"], model["status_label"]),
                demo_badge(model["demo"]),
                rx.text(model["subject_label"], size="2", color=rx.color("gray", 11)),
                align="center",
                spacing="3",
            ),
            progress_line(model),
            rx.cond(
                model["status"] == "failed",
                rx.callout(model["error"], icon="circle-alert", color_scheme="red", width="100%"),
            ),
            rx.cond(
                ModelDetailState.can_edit & (ModelDetailState.identity_problem != ""),
                rx.callout(
                    ModelDetailState.identity_problem,
                    icon="users",
                    color_scheme="amber",
                    width="100%",
                    id="identity-problem",
                ),
            ),
            rx.data_list.root(
                rx.data_list.item(
                    rx.data_list.label("Accepted photos"),
                    rx.data_list.value(
                        rx.text(
                            ModelDetailState.accepted,
                            " (",
                            ModelDetailState.min_photos,
                            "-",
                            ModelDetailState.max_photos,
                            " needed)",
                            id="accepted-count",
                        )
                    ),
                ),
                rx.data_list.item(
                    rx.data_list.label("Training cost"),
                    rx.data_list.value(counted(ModelDetailState.cost, "credit")),
                ),
                rx.data_list.item(
                    rx.data_list.label("Created"), rx.data_list.value(model["created"])
                ),
                rx.cond(
                    model["trained"] != "",
                    rx.data_list.item(
                        rx.data_list.label("Trained"), rx.data_list.value(model["trained"])
                    ),
                ),
                rx.data_list.item(
                    rx.data_list.label("Provider"), rx.data_list.value(model["provider"])
                ),
                size="2",
            ),
            rx.cond(model["quality"] != "", _quality_line(model)),
            rx.cond(
                ModelDetailState.photos_removed != "",
                rx.hstack(
                    rx.icon("clock", size=14, flex_shrink="0", margin_top="3px"),
                    rx.text(ModelDetailState.photos_removed, size="2", id="retention-note"),
                    spacing="2",
                    align="start",
                    color=rx.color("gray", 11),
                ),
            ),
            rx.hstack(
                rx.cond(
                    ModelDetailState.can_edit,
                    rx.button(
                        rx.icon("sparkles", size=16),
                        rx.cond(model["status"] == "failed", "Retry training", "Start training"),
                        " (",
                        counted(ModelDetailState.cost, "credit"),
                        ")",
                        on_click=ModelDetailState.start_training,
                        disabled=~ModelDetailState.can_train,
                        loading=ModelDetailState.busy,
                        size="3",
                        id="start-training",
                    ),
                ),
                rx.cond(
                    model["status"] == "ready",
                    rx.link(
                        rx.button(rx.icon("image-plus", size=16), "Generate photos", size="3"),
                        href="/generate",
                    ),
                ),
                rx.spacer(),
                _delete_button(),
                width="100%",
                wrap="wrap",
                align="center",
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
    )


def _quality_line(model: ObjectVar[dict[str, str]]) -> rx.Component:
    """The likeness of the sample made after training, and the free retrain when it is weak."""
    return rx.hstack(
        rx.icon(
            rx.cond(model["quality_weak"] == "yes", "triangle-alert", "scan-face"),
            size=16,
            flex_shrink="0",
        ),
        rx.text(model["quality"], size="2", weight="medium", id="model-quality"),
        rx.cond(
            model["retrain_free"] == "yes",
            rx.button(
                rx.icon("refresh-cw", size=14),
                "Retrain for free",
                on_click=ModelDetailState.retrain_for_free,
                loading=ModelDetailState.busy,
                size="2",
                variant="soft",
                id="retrain-free",
            ),
        ),
        rx.cond(
            model["retrain_free"] == "yes",
            rx.text(
                "The sample pictures made after training did not look like you: retraining "
                "refunds this training's credits, then trains again.",
                size="1",
                color=rx.color("gray", 11),
                width="100%",
            ),
        ),
        spacing="2",
        align="center",
        wrap="wrap",
        color=rx.cond(model["quality_weak"] == "yes", rx.color("amber", 11), rx.color("gray", 12)),
    )


def _delete_button() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                rx.icon("trash-2", size=16), "Delete model", color_scheme="red", variant="soft"
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this model?"),
            rx.alert_dialog.description(
                "Its photos and trained weights are removed for good. Photos you generated "
                "with it stay in your gallery. A training under way is stopped and its "
                "credits are given back."
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button("Delete", color_scheme="red", on_click=ModelDetailState.delete_model)
                ),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
        ),
    )


# With S3 storage the page uploads each chosen or dropped file straight to the bucket: a ticket
# (presigned PUT) from /api/uploads/ticket, the PUT, then /api/uploads/done checks the photo.
# Each outcome is handed to the state through the hidden form (`direct_upload_done`), which
# shows a refusal and reads the photos again. See photoai.services.direct_uploads.
DIRECT_UPLOAD_JS = """
(() => {
  if (window.__photoaiDirect) return;
  window.__photoaiDirect = true;
  const post = async (path, body) => {
    try {
      const r = await fetch(path, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      const data = await r.json();
      return r.ok ? data : {error: data.error || "The upload was refused."};
    } catch (e) { return {error: "The server did not answer; try again."}; }
  };
  const say = (text) => {
    const status = document.getElementById("direct-status");
    if (status) status.textContent = text;
  };
  const report = (result) => {
    const field = document.getElementById("direct-upload-result");
    const form = document.getElementById("direct-upload-form");
    if (!field || !form) return;
    field.value = JSON.stringify(result);
    form.requestSubmit();
  };
  const send = async (file, modelId) => {
    const ticket = await post("/api/uploads/ticket",
      {model_id: modelId, size: file.size, content_type: file.type});
    if (ticket.error) return {filename: file.name, error: ticket.error};
    try {
      const put = await fetch(ticket.url, {method: "PUT", headers: ticket.headers, body: file});
      if (!put.ok) return {filename: file.name, error: "The storage refused the upload."};
    } catch (e) { return {filename: file.name, error: "The upload did not reach the storage."}; }
    const done = await post("/api/uploads/done",
      {model_id: modelId, key: ticket.key, filename: file.name});
    return done.error ? {filename: file.name, error: done.error} : {filename: file.name};
  };
  const upload = async (files) => {
    const modelId = Number(window.location.pathname.replace(/\\/$/, "").split("/").pop());
    const list = Array.from(files);
    for (let i = 0; i < list.length; i++) {
      say(`Uploading and checking ${list[i].name} (${i + 1} of ${list.length})…`);
      report(await send(list[i], modelId));
    }
    say(list.length ? `${list.length} files sent; each verdict is shown below.` : "");
  };
  document.addEventListener("change", (e) => {
    if (e.target.id !== "direct-photos") return;
    const files = Array.from(e.target.files);
    e.target.value = "";
    upload(files);
  });
  document.addEventListener("dragover", (e) => {
    if (e.target.closest && e.target.closest("#direct-drop")) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    if (!(e.target.closest && e.target.closest("#direct-drop"))) return;
    e.preventDefault();
    upload(e.dataTransfer.files);
  });
})();
"""


def _upload_prompt() -> rx.Component:
    return rx.vstack(
        rx.icon("cloud-upload", size=32, color=rx.color("accent", 9)),
        rx.text("Drag and drop photos here, or click to choose", weight="medium"),
        rx.text(
            "JPEG, PNG, WebP or HEIC. One face per photo, well lit and sharp, from "
            "different angles and places.",
            size="2",
            color=rx.color("gray", 11),
            text_align="center",
        ),
        align="center",
        spacing="2",
        padding="2em",
    )


_ZONE_STYLE = {
    "border": f"2px dashed {rx.color('accent', 7)}",
    "border_radius": "var(--radius-4)",
    "background": rx.color("accent", 2),
    "width": "100%",
    "cursor": "pointer",
}


_VISUALLY_HIDDEN = {
    "position": "absolute",
    "width": "1px",
    "height": "1px",
    "margin": "-1px",
    "padding": "0",
    "overflow": "hidden",
    "clip": "rect(0 0 0 0)",
    "white_space": "nowrap",
    "border": "0",
}


def _direct_upload_zone() -> rx.Component:
    """The same drop zone, for uploads straight to the S3 bucket (DIRECT_UPLOAD_JS)."""
    accept = ",".join([*ACCEPTED_TYPES, *(e for exts in ACCEPTED_TYPES.values() for e in exts)])
    return rx.box(
        rx.script(DIRECT_UPLOAD_JS),
        rx.el.label(
            _upload_prompt(),
            rx.el.input(
                type="file",
                multiple=True,
                accept=accept,
                id="direct-photos",
                # Visually hidden, still focusable: the whole zone is its label.
                style=_VISUALLY_HIDDEN,
            ),
            html_for="direct-photos",
            id="direct-drop",
            display="block",
            position="relative",
            _focus_within={"outline": f"2px solid {rx.color('accent', 8)}"},
            **_ZONE_STYLE,
        ),
        rx.text("", id="direct-status", role="status", size="2", margin_top="0.5em"),
        rx.form(
            rx.el.input(type="hidden", name="result", id="direct-upload-result"),
            id="direct-upload-form",
            on_submit=ModelDetailState.direct_upload_done,
            display="none",
        ),
        id=UPLOAD_ID,
        width="100%",
    )


def _upload_zone() -> rx.Component:
    return rx.upload.root(
        _upload_prompt(),
        id=UPLOAD_ID,
        multiple=True,
        accept=ACCEPTED_TYPES,
        on_drop=ModelDetailState.receive_photos(  # type: ignore[misc]
            rx.upload_files_chunk(
                upload_id=UPLOAD_ID,
                on_upload_progress=ModelDetailState.upload_progress,
            )
        ),
        **_ZONE_STYLE,
    )


def _photos() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Training photos", size="5", as_="h2"),
            rx.spacer(),
            rx.cond(
                ModelDetailState.refused_count > 0,
                rx.button(
                    rx.icon("trash-2", size=14),
                    "Clear refused photos (",
                    ModelDetailState.refused_count,
                    ")",
                    size="2",
                    variant="soft",
                    color_scheme="gray",
                    on_click=ModelDetailState.clear_refused,
                    id="clear-refused",
                ),
            ),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            ModelDetailState.can_edit,
            rx.vstack(
                rx.cond(
                    ModelDetailState.consent_needed,
                    consent_step(
                        ModelDetailState.consent_rows,
                        ModelDetailState.give_consent,
                        ModelDetailState.consent_error,
                    ),
                    rx.cond(ModelDetailState.direct_uploads, _direct_upload_zone(), _upload_zone()),
                ),
                rx.cond(
                    (ModelDetailState.upload_percent > 0) & (ModelDetailState.upload_percent < 100),
                    rx.vstack(
                        rx.progress(
                            value=ModelDetailState.upload_percent,
                            max=100,
                            aria_label="Upload progress",
                            width="100%",
                        ),
                        rx.text("Uploading… ", ModelDetailState.upload_percent, "%", size="2"),
                        width="100%",
                    ),
                ),
                rx.cond(
                    ModelDetailState.checking,
                    rx.hstack(
                        rx.spinner(size="2"),
                        rx.text("Checking each photo; verdicts appear below as they are ready."),
                        align="center",
                    ),
                ),
                rx.foreach(
                    ModelDetailState.transfers,
                    lambda t: rx.hstack(
                        rx.icon("file-up", size=14),
                        rx.text(t["filename"], size="2"),
                        rx.badge(t["received"], variant="soft"),
                        align="center",
                        data_testid="transfer",
                    ),
                ),
                rx.foreach(
                    ModelDetailState.refusals,
                    lambda r: rx.callout(
                        r["filename"].to(str) + ": " + r["reason"].to(str),
                        icon="ban",
                        color_scheme="red",
                        size="1",
                    ),
                ),
                width="100%",
            ),
        ),
        rx.grid(
            rx.foreach(
                ModelDetailState.photos,
                lambda p: photo_tile(p, ModelDetailState.can_edit, ModelDetailState.remove_photo),
            ),
            columns=rx.breakpoints(initial="2", sm="3", md="4", lg="5"),
            spacing="3",
            width="100%",
            id="photo-grid",
        ),
        spacing="3",
        width="100%",
    )


def model_detail_page() -> rx.Component:
    return app_page(
        rx.cond(ModelDetailState.not_found, "Model not found", _model()["name"].to(str)),
        "/models",
        rx.cond(
            ModelDetailState.not_found,
            rx.card(
                rx.vstack(
                    rx.text("It does not exist, or it is not yours."),
                    rx.link("Back to your models", href="/models"),
                ),
                width="100%",
            ),
            rx.vstack(
                rx.link(rx.hstack(rx.icon("arrow-left", size=14), "All models"), href="/models"),
                error_callout(ModelDetailState.error),
                rx.cond(
                    ModelDetailState.need_credits,
                    rx.link(rx.button(rx.icon("coins", size=16), "Buy credits"), href="/billing"),
                ),
                notice_callout(ModelDetailState.notice),
                _facts(),
                _photos(),
                spacing="4",
                width="100%",
            ),
        ),
    )
