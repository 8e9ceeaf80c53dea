"""A plain-data view of the loaded questionnaire, for staff review (`otklik questionnaire --json`)."""

from __future__ import annotations

from typing import Any

from survey_flow.model import OTHER_CODE, OTHER_LABEL, Question, Questionnaire


def questionnaire_summary(q: Questionnaire) -> dict[str, Any]:
    return {
        "version": q.version,
        "title": q.title,
        "scale_intro": q.scale_intro,
        "followup": {
            "text": q.followup.text,
            "after_scores": list(q.followup.scores),
            "questions": list(q.followup.questions),
        },
        "questions": [_question(q, question) for question in q.questions],
    }


def _question(q: Questionnaire, question: Question) -> dict[str, Any]:
    options = [
        {"code": o.code, "platform_code": o.platform_code, "printed_code": o.printed_code, "text": o.text}
        for o in question.options
    ]
    if question.allow_other:
        options.append(
            {"code": OTHER_CODE, "platform_code": OTHER_CODE, "printed_code": OTHER_CODE, "text": OTHER_LABEL}
        )
    if question.kind == "scale":
        options = [
            {"code": c, "platform_code": c, "printed_code": c, "text": c} for c in ("1", "2", "3", "4", "5")
        ]
    condition = question.condition
    return {
        "code": question.code,
        "platform_code": question.platform_code,
        "printed_code": question.printed_code,
        "block": question.block,
        "kind": question.kind,
        "text": question.text,
        "instruction": question.instruction,
        "condition_note": question.condition_note,
        "condition": None
        if condition is None
        else {"question": condition.question, "any_of": list(condition.any_of)},
        "condition_text": _condition_text(q, question),
        "options": options,
        "followup_after": list(q.followup.scores) if q.has_followup(question) else [],
        "asked": question.asked,
        "prefillable": question.prefillable,
    }


def _condition_text(q: Questionnaire, question: Question) -> str:
    if question.kind == "auto_datetime":
        return "записывается автоматически при завершении анкеты"
    condition = question.condition
    if condition is None:
        return ""
    target = q.question(condition.question)
    labels = [o.text for o in target.options if o.code in condition.any_of]
    return f"если {target.printed_code} = " + " или ".join(f"«{label}»" for label in labels)
