"""Every page of the site in one table: the app registers it, the render test walks it."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx

from photoai.pages.account import account_page
from photoai.pages.admin import (
    audit_page,
    jobs_page,
    overview_page,
    providers_page,
    stripe_page,
    user_page,
    users_page,
)
from photoai.pages.auth import (
    forgot_password_page,
    login_page,
    register_page,
    reset_password_page,
)
from photoai.pages.billing import billing_page, billing_success_page
from photoai.pages.dashboard import dashboard_page
from photoai.pages.gallery import gallery_page
from photoai.pages.generate import generate_page
from photoai.pages.landing import landing_page
from photoai.pages.models import model_detail_page, models_page, new_model_page
from photoai.pages.privacy import privacy_page
from photoai.state.account import AccountState
from photoai.state.admin import (
    AdminAuditState,
    AdminJobsState,
    AdminOverviewState,
    AdminProvidersState,
    AdminStripeState,
    AdminUsersState,
    AdminUserState,
)
from photoai.state.auth_forms import (
    LoginState,
    RegisterState,
    ResetPasswordState,
)
from photoai.state.billing import BillingState, BillingSuccessState
from photoai.state.dashboard import DashboardState
from photoai.state.gallery import GalleryState
from photoai.state.generate import GenerateState
from photoai.state.landing import LandingState
from photoai.state.models import ModelDetailState, ModelsState, NewModelState
from photoai.state.privacy import PrivacyState
from photoai.state.session import SessionState


@dataclass(frozen=True)
class PageRoute:
    path: str
    page: Callable[[], rx.Component]
    title: str
    on_load: Any  # an @rx.event handler or None; Reflex's stubs type those as EventNamespace


PAGES: tuple[PageRoute, ...] = (
    PageRoute(
        "/",
        landing_page,
        "AI photos of you",
        [SessionState.check_session, LandingState.load_photo_range],
    ),
    PageRoute("/privacy", privacy_page, "Privacy", PrivacyState.on_load),
    PageRoute("/login", login_page, "Sign in", LoginState.on_load),
    PageRoute("/register", register_page, "Create account", RegisterState.on_load),
    PageRoute("/forgot-password", forgot_password_page, "Reset password", None),
    PageRoute("/reset-password", reset_password_page, "New password", ResetPasswordState.on_load),
    PageRoute("/dashboard", dashboard_page, "Dashboard", DashboardState.on_load),
    PageRoute("/account", account_page, "Account", AccountState.on_load),
    PageRoute("/models", models_page, "Models", ModelsState.on_load),
    PageRoute("/models/new", new_model_page, "New model", NewModelState.on_load),
    PageRoute("/models/[model_id]", model_detail_page, "Model", ModelDetailState.on_load),
    PageRoute("/generate", generate_page, "Generate", GenerateState.on_load),
    PageRoute("/gallery", gallery_page, "Gallery", GalleryState.on_load),
    PageRoute("/billing", billing_page, "Billing", BillingState.on_load),
    PageRoute("/billing/success", billing_success_page, "Payment", BillingSuccessState.on_load),
    PageRoute("/admin", overview_page, "Console", AdminOverviewState.on_load),
    PageRoute("/admin/jobs", jobs_page, "Jobs · console", AdminJobsState.on_load),
    PageRoute("/admin/users", users_page, "Users · console", AdminUsersState.on_load),
    PageRoute("/admin/users/[user_id]", user_page, "Account · console", AdminUserState.on_load),
    PageRoute(
        "/admin/providers", providers_page, "Providers · console", AdminProvidersState.on_load
    ),
    PageRoute("/admin/stripe", stripe_page, "Stripe events · console", AdminStripeState.on_load),
    PageRoute("/admin/audit", audit_page, "Audit log · console", AdminAuditState.on_load),
)


def add_pages(app: rx.App) -> None:
    for route in PAGES:
        app.add_page(
            route.page, route=route.path, title=f"{route.title} · photoai", on_load=route.on_load
        )
