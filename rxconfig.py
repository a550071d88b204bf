"""Reflex configuration. Only REFLEX_-prefixed env vars override these fields."""

import reflex as rx

config = rx.Config(
    app_name="photoai",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    default_color_mode="light",
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="violet", gray_color="slate", radius="large")
        ),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
