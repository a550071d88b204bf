"""Privacy and data rights: consent before face photos are processed, retention of training
photos and abandoned drafts, and deleting an account with everything it holds.

Each module here is plain services (no Reflex): `consent`, `disclosure` (what the operator's
settings mean for a user's data, shown on the consent step and the privacy page),
`retention` (periodic upkeep), `deletion` (the account-deletion job) and `export` (the
data-export job).
"""
