"""I/O edge of `kpiml roi`: new economics on a trained bundle, without retraining.

The bundle keeps the calibrated out-of-fold probabilities the operating point was chosen on;
a change of CLV, incentive, acceptance, payoff or capacity only changes which rows are worth
acting on, so the point is chosen again on those rows and the campaign's profit, spend and
ROI are recomputed (`kpiml.kpi.headline`), with a sensitivity table over the main terms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kpiml.errors import KpimlError
from kpiml.kpi_flags import KpiFlags, kpi_options

if TYPE_CHECKING:
    import pandas as pd

    from kpiml.kpi.headline import BundleKpi
    from kpiml.kpi.roi import RoiResult
    from kpiml.spec import KpiBlock


def what_if_kpi(stored: BundleKpi, flags: KpiFlags) -> KpiBlock:
    """The bundle's KPI with the options written over it, validated like the spec."""
    from kpiml.kpi import has_economics
    from kpiml.kpi_flags import validate_kpi

    given = flags.value_column
    if given is not None and given != stored.kpi.economics.value_column:
        raise KpimlError(f"The bundle's out-of-fold rows carry no values of '{given}'",
                         expected=f"--value-column {stored.kpi.economics.value_column}" if stored.kpi.economics.value_column else "no --value-column",
                         fix="retrain with `kpiml train --value-column ...` to value rows by another column")
    kpi = flags.apply(stored.kpi)
    validate_kpi(kpi)
    if not has_economics(kpi):
        raise KpimlError("The model was trained without economics, so there is no campaign to recompute",
                         expected="a payoff (--benefit-tp and --cost-fp) or a template with its terms",
                         fix="e.g. kpiml roi MODEL --template churn --clv 200 --incentive 10 --contact 1")
    return kpi


def _headline_table(result: RoiResult, kpi: KpiBlock) -> Any:
    from rich.table import Table

    from kpiml.kpi.economics import capacity_text

    p = result.point
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_row("Economics", p.payoff)
    t.add_row("Capacity", capacity_text(kpi.capacity, kpi.economics.contact))
    bar = "no row" if p.threshold is None else f"{'p' if p.ranking == 'probability' else 'expected value'} >= {p.threshold:.4g}"
    t.add_row("Operating point", f"{p.kind}: act on {bar}" + (f" (capacity bar {p.capacity_threshold:.4g})" if p.capacity_threshold is not None else ""))
    t.add_row("Acted on", f"{result.acted:,} of {result.rows:,} ({result.share_acted:.1%})")
    t.add_row("Profit", f"{result.profit:,.0f} (95 % CI {result.profit_ci.low:,.0f} to {result.profit_ci.high:,.0f}); expected from p {result.expected_profit:,.0f}")
    roi_ci = f" (95 % CI {result.roi_ci.low:.0%} to {result.roi_ci.high:.0%})" if result.roi_ci else ""
    t.add_row("Spend / ROI", f"{result.spend:,.0f} / {result.roi:.0%}{roi_ci}" if result.spend > 0 else "no spend")
    return t


def _sensitivity_table(table: pd.DataFrame) -> Any:
    from rich.table import Table

    t = Table(title="Sensitivity (each term scaled, the others as given; point re-chosen each time)", title_justify="left")
    for name in ("parameter", "factor", "value", "acted", "share", "profit", "spend", "ROI"):
        t.add_column(name, justify="left" if name == "parameter" else "right")
    for r in table.itertuples(index=False):
        if r.note:
            t.add_row(str(r.parameter), _num(r.factor, "{:g}"), _num(r.value, "{:.4g}"), "", "", r.note, "", "")
            continue
        t.add_row(str(r.parameter), _num(r.factor, "{:g}"), _num(r.value, "{:.4g}"), f"{int(r.acted):,}", f"{r.share_acted:.1%}",
                  f"{r.profit:,.0f}", f"{r.spend:,.0f}", _num(r.roi, "{:.0%}"))
    return t


def _num(value: Any, fmt: str) -> str:
    try:
        return fmt.format(value) if value == value else "—"
    except (TypeError, ValueError):
        return str(value)


def write_roi(out: Path, result: RoiResult, table: pd.DataFrame) -> None:
    """The sensitivity table as CSV, or the headline, point and table as JSON (atomically)."""
    from kpiml.atomic import atomic_path, write_text_atomic

    suffix = _check_out(out)
    if suffix == ".csv":
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    else:
        payload = {"headline": result.summary(), "operating_point": result.point.model_dump(mode="json"),
                   "sensitivity": json.loads(table.to_json(orient="records"))}
        write_text_atomic(out, json.dumps(payload, indent=2, default=str))


def _check_out(out: Path) -> str:
    """The output's suffix, checked before any work so a typo costs nothing."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise KpimlError(f"Cannot tell the output format of '{out}'", expected="a file name ending in .csv or .json",
                         got=suffix or "no suffix", fix="name it e.g. roi.csv or roi.json")
    return suffix


@kpi_options
def roi_command(
    model: Annotated[Path, typer.Argument(help="Model bundle folder written by `kpiml train` (DIR/model).", show_default=False)],
    rows: Annotated[int | None, typer.Option(min=1, help="Customers in the campaign (default: the out-of-fold rows); totals are scaled to it.")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the figures: .csv (sensitivity table) or .json (headline, point, table).")] = None,
    *,
    kpi: KpiFlags,
) -> None:
    """Recompute the operating point, campaign profit and ROI for new economics, without retraining.

    Options not given keep the bundle's values; e.g. `kpiml roi proj/model --clv 250 --capacity 0.1`.
    """
    from rich.console import Console

    from kpiml.kpi import sensitivity
    from kpiml.kpi.headline import bundle_kpi, headline, headline_text

    if out is not None:
        _check_out(out)
    stored = bundle_kpi(model)
    what_if = what_if_kpi(stored, kpi)
    result = headline(stored, what_if, rows=rows)
    values = stored.oof.values if what_if.economics.value_column else None
    table = sensitivity(stored.oof.y, stored.oof.p, what_if, values, rows=rows)
    console = Console(highlight=False)
    console.print(f"[bold]{headline_text(result)}[/bold]")
    console.print(_headline_table(result, what_if))
    console.print(_sensitivity_table(table))
    console.print(f"Figures on the {len(stored.oof.y):,} out-of-fold rows the model was validated on; profit realised on their labels, "
                  "bootstrap intervals with the decisions held fixed.")
    if out is not None:
        write_roi(out, result, table)
        console.print(f"Written to [bold]{out}[/bold]")
