"""The int8 picker's rule: fastest meeting the margin (noise-tied: more faithful), else faithful within the goals."""
from __future__ import annotations

from model_artifacts.build import PICK_NOISE, choose_recipe


def _t(name, tps, cos, margin, goals=True):
    return {"recipe": name, "texts_per_s": tps, "cosine_mean": cos, "meets_margin": margin, "meets_goals": goals}


def test_the_fastest_recipe_meeting_the_margin_wins():
    best, why = choose_recipe([_t("a", 100, 0.999, True), _t("b", 130, 0.9975, True), _t("c", 200, 0.99, False)],
                              "embed")
    assert best["recipe"] == "b" and why.startswith("fastest")


def test_a_speed_difference_inside_the_noise_goes_to_the_more_faithful():
    near = 100 * (1 - PICK_NOISE / 2)
    best, _ = choose_recipe([_t("faithful", near, 0.999, True), _t("fast", 100, 0.9975, True)], "embed")
    assert best["recipe"] == "faithful"


def test_without_the_margin_the_most_faithful_meeting_the_goals():
    best, why = choose_recipe([_t("a", 100, 0.996, False), _t("b", 90, 0.9965, False), _t("c", 50, 0.999, False,
                                                                                             goals=False)], "embed")
    assert best["recipe"] == "b" and "meeting the goals" in why


def test_when_nothing_meets_the_goals_it_says_so():
    best, why = choose_recipe([{"recipe": "a", "texts_per_s": 1, "agreement": 0.95, "meets_margin": False,
                                "meets_goals": False}], "classify")
    assert best["recipe"] == "a" and "no prod alias" in why
