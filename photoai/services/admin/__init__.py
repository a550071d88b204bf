"""The operator console's rules: who is an admin, what admins may do, what they see.

Every action here takes the acting admin's id, checks it is still an admin, and writes one
`audit_log` row; callers (console state, CLI, tests) never check or record that themselves.
"""
