"""The guide's four success criteria of a PSRO run: their thresholds, how each is judged on the measurements, and
how each reads on one line (`pokepsro criteria`). The thresholds live here only; the plots draw the same ones.
"""

from __future__ import annotations

from pokepsro.metagame.solver import exploitability_verdict

SUCCESS_EXPLOITABILITY = 0.15  # the final σ's exploitability is below this
SUCCESS_SUPPORT = 3  # the final Nash mixture's support has at least this many policies
SUCCESS_BR_WINRATE = 0.60  # each best response beats the previous Nash mixture at least this often


SIGMA_KEYS = ("sigma_of", "measured_with", "started_from", "verdict", "gain", "gain_ci95", "rise", "rise_ci95",
              "trained", "exploitability", "informative", "pass")  # how each σ's verdict reads in success.json


def sigma_verdict(measurement: dict) -> str:
    """The criterion "exploitability < 0.15" for one σ: "pass", "fail" or "not shown" (`exploitability_verdict`)."""
    return exploitability_verdict(measurement, SUCCESS_EXPLOITABILITY)


def success_criteria(progress: list[dict], final_analysis: dict, initial_size: int, final_size: int) -> dict:
    """`success.json`: each criterion with its measured value, threshold and verdict.

    `progress` holds one measurement per σ (each iteration's, then the final σ's, by the exploiter).
    """
    iterations = progress[:-1]
    criteria = {
        "exploitability_below_0.15": _exploitability_criterion(progress),
        "nash_support_at_least_3": {"value": final_analysis["support_size"], "threshold": SUCCESS_SUPPORT,
                                    "pass": final_analysis["support_size"] >= SUCCESS_SUPPORT},
        "each_br_beats_previous_nash_60pct": _br_winrate_criterion(iterations),
        "population_equals_initial_plus_iterations": {
            "value": final_size, "expected": initial_size + len(iterations),
            "pass": final_size == initial_size + len(iterations)},
    }
    return {"criteria": criteria, "all_pass": all(c["pass"] for c in criteria.values())}


def _exploitability_criterion(progress: list[dict]) -> dict:
    """The final σ's verdict, with every σ's read alike; `value` is what the verdict compares with the threshold."""
    final = progress[-1]
    return {"value": final["gain_ci95"][1], "threshold": SUCCESS_EXPLOITABILITY,
            "measured_on": final["sigma_of"], **{key: final[key] for key in SIGMA_KEYS[1:-1]},
            "per_iteration": [{key: m[key] for key in SIGMA_KEYS} for m in progress],
            "note": ("judged on the final σ, measured by the exploiter trained against it from the bootstrap; every "
                     "σ is judged alike in per_iteration. A best response's gain (win rate − 0.5) only bounds σ's "
                     "exploitability from below, so the verdict is: pass when the best response demonstrably "
                     "trained (its rise over its start, paired on the same battles, has a 95 % interval above 0) "
                     "and the gain's 95 % upper end (value) is below the threshold; fail when the gain's 95 % lower "
                     "end is at or above it; not shown otherwise, which never passes."),
            "pass": final["verdict"] == "pass"}


def _br_winrate_criterion(progress: list[dict]) -> dict:
    """The guide's 60 % on each BR's point estimate, with its interval and whether it surely beats σ."""
    per_br = {m["measured_with"]: {"win_rate": m["br_winrate"], "ci95": m["br_winrate_ci95"], "battles": m["battles"],
                                   "lower_end_above_0.5": m["br_winrate_ci95"][0] > 0.5,
                                   "pass": m["br_winrate"] >= SUCCESS_BR_WINRATE}
              for m in progress}
    return {"value": {name: br["win_rate"] for name, br in per_br.items()}, "threshold": SUCCESS_BR_WINRATE,
            "per_br": per_br, "note": "judged on each point estimate, as the guide does; lower_end_above_0.5 says "
                                      "whether the 95 % interval shows the BR really beats σ",
            "pass": bool(per_br) and all(br["pass"] for br in per_br.values())}


VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "not shown": "NOT SHOWN"}


def _sigma_text(item: dict) -> str:
    """One σ's measurement: the gain with its interval against the threshold, the rise over the start with its."""
    low, high = item["gain_ci95"]
    rise_low, rise_high = item["rise_ci95"]
    side = "<" if high < SUCCESS_EXPLOITABILITY else "≥"
    trained = "trained" if item["trained"] else "not shown to have trained"
    return (f"gain {item['gain']:+.3f} (95 % CI {low:+.3f} to {high:+.3f}, upper end {side} {SUCCESS_EXPLOITABILITY}); "
            f"rise over {item['started_from']} {item['rise']:+.3f} (95 % CI {rise_low:+.3f} to {rise_high:+.3f}: "
            f"{trained})")


def criteria_lines(success: dict) -> list[str]:
    """The guide's success criteria of `success.json`, one line each (plus one per measured σ and BR)."""
    lines = []
    for name, criterion in success["criteria"].items():
        verdict = "PASS" if criterion["pass"] else "FAIL"
        if name.startswith("exploitability"):
            lines.append(f"{VERDICT_WORDS[criterion['verdict']]} {name}: final σ ({criterion['measured_on']}, "
                         f"measured with {criterion['measured_with']}): {_sigma_text(criterion)}")
            lines += [f"       σ of {item['sigma_of']} (measured with {item['measured_with']}): "
                      f"{VERDICT_WORDS[item['verdict']]}, {_sigma_text(item)}"
                      for item in criterion["per_iteration"][:-1]]
        elif "per_br" in criterion:
            lines.append(f"{verdict} {name}: point estimate ≥ {criterion['threshold']} for every best response")
            lines += [f"       {br}: {item['win_rate']:.3f} (95 % CI {item['ci95'][0]:.3f}-{item['ci95'][1]:.3f}, "
                      f"{item['battles']} battles; lower end {'above' if item['lower_end_above_0.5'] else 'not above'} 0.5)"
                      for br, item in criterion["per_br"].items()]
        else:
            target = criterion.get("threshold", criterion.get("expected"))
            lines.append(f"{verdict} {name}: {criterion['value']} (target {target})")
    lines.append("all criteria pass" if success["all_pass"] else "not every criterion passes")
    return lines
