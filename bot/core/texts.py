"""Service texts respondents see (Russian). Survey wording itself comes from the questionnaire file."""

from __future__ import annotations

GREETING = (
    "Здравствуйте! Министерство экономического развития Новосибирской области просит Вас "
    "ответить на несколько вопросов об удовлетворенности мерами государственной поддержки. "
    "Это займет 2–3 минуты."
)
RESUME_PROMPT = (
    "У Вас есть незавершенная анкета. Продолжить с того места, где Вы остановились, или начать заново?"
)
CONTINUE = "Продолжить"
RESTART = "Начать заново"
BACK = "◀ Назад"
ABORT = "✖ Прервать"
PREV_PAGE = "«"
NEXT_PAGE = "»"
OTHER = "Другое (впишите)"
OTHER_PROMPT = "Напишите, пожалуйста, свой вариант ответа текстом."
# Under the order's follow-up sentence, whose «Впишите _____.» is kept word for word: the blank is
# the respondent's next message.
FOLLOWUP_HINT = "Напишите ответ сообщением. Если добавить нечего, выберите «Пропустить»."
SKIP = "Пропустить"
SKIPPED = "Пропущено"
PAUSED = "Опрос приостановлен. Ваши ответы сохранены. Чтобы продолжить, отправьте {start}."
NO_SURVEY = "Чтобы пройти опрос, отправьте {start}."
START_BUTTON = "Начать опрос"
THANKS = "Спасибо! Ваши ответы сохранены. Анкета заполнена."
CONSENT_YES = "Да, согласен(на)"
CONSENT_NO = "Нет"
CONSENT_POLICY = "Политика обработки персональных данных: {url}"
CONSENT_GRANTED = "Спасибо! Ваше согласие записано. Отозвать его можно в любой момент командой {stop}."
CONSENT_DECLINED = "Хорошо, мы не будем присылать Вам приглашения. Спасибо за участие в опросе!"
CONSENT_REPEAT = "Пожалуйста, ответьте «Да» или «Нет» кнопкой или сообщением."
NOTHING_TO_WITHDRAW = (
    "Вы не давали согласия на получение приглашений к опросам, поэтому отзывать нечего: "
    "рассылки Вам не приходят."
)
ALREADY_WITHDRAWN = (
    "Ваше согласие на получение приглашений к опросам уже отозвано, отзывать нечего: "
    "рассылки Вам не приходят."
)
CONSENT_WITHDRAWN = (
    "Ваше согласие на получение приглашений к опросам отозвано. "
    "Мы больше не будем присылать Вам рассылки. Ответы, которые Вы уже дали, сохранены."
)
WITHDRAW_BUTTON = "Отозвать согласие на рассылки"
STALE_BUTTON = "Эта кнопка уже неактуальна. Ответьте, пожалуйста, на последний вопрос."
UNSUPPORTED = (
    "Я понимаю только текст и нажатия кнопок. Пожалуйста, выберите ответ кнопкой или напишите его сообщением."
)
RESUME_REPEAT = "Пожалуйста, выберите «Продолжить» или «Начать заново»."
NOTHING_TO_UNDO = "Это первый вопрос анкеты, возвращаться некуда."
# Above each question: where the respondent is in the form.
QUESTION_NUMBER = "Вопрос {number} из {total}"
# Under a question whose options fill more than one keyboard page.
PAGE_HINT = "Страница {page} из {pages}. Можно написать название — я найду вариант."
# What an answered message shows once its buttons are gone: the question, then the reply.
ECHO_ANSWERED = "{question}\n\n✅ {answer}"
ECHO_SKIPPED = "{question}\n\n↷ " + SKIPPED
ECHO_BACK = "{question}\n\n↩ " + BACK.removeprefix("◀ ")
