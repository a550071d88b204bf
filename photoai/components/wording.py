"""Counts that live in state, worded in the browser by the rule of `photoai.wording`.

State rows hold every field as text ("4", "54"): `as_number` turns one back into the number a
component needs (a progress bar's value) or a comparison needs.
"""

import reflex as rx
from reflex.vars.base import CustomVarOperationReturn, var_operation, var_operation_return

from photoai.wording import plural


@var_operation  # type: ignore[arg-type]  # its stub cannot infer the result type
def as_number(value: rx.Var) -> CustomVarOperationReturn[int]:
    return var_operation_return(js_expression=f"Number({value})", var_type=int)


def noun_for(count: rx.Var, noun: str) -> rx.Var[str]:
    """`noun` as it follows `count`: "credit" after 1, "credits" after anything else."""
    return rx.cond(as_number(count) == 1, plural(1, noun), plural(2, noun))


def counted(count: rx.Var, noun: str) -> rx.Component:
    return rx.fragment(count, " ", noun_for(count, noun))
