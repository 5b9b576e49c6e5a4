"""The reference the request engine is measured against: a dozen lines of asyncio.

``ITEMS`` chat completions through the openai SDK's ``AsyncOpenAI`` client, at most
``CONCURRENCY`` in flight (one semaphore), no retries; run as its own process so that its time,
like the plugin's, includes the interpreter and the SDK's import.

    python bench/reference_asyncopenai.py BASE_URL ITEMS CONCURRENCY
"""

from __future__ import annotations

import asyncio
import sys


async def main(base_url: str, items: int, concurrency: int) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> str:
        async with gate:
            reply = await client.chat.completions.create(
                model="bench",
                messages=[
                    {"role": "system", "content": "Answer only from the documents."},
                    {"role": "user", "content": f"Refund question {n}?"},
                ],
            )
            return reply.choices[0].message.content or ""

    answers = await asyncio.gather(*(one(n) for n in range(items)))
    assert len(answers) == items
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
