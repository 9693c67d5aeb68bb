"""Write the small sample corpus in samples/ (several formats, a few defects).

The rows are written for winnow; none comes from a public dataset. Run
`python scripts/make_samples.py` to regenerate samples/ after editing.
"""

from __future__ import annotations

import gzip
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "samples")

ALPACA = [
    {
        "instruction": "Give three tips for keeping houseplants alive in winter.",
        "input": "",
        "output": "1. Move plants closer to a bright window, since days are short.\n2. Water less often; most plants grow slowly in the cold months.\n3. Keep them away from radiators and cold drafts, which dry out or chill the leaves.",
    },
    {
        "instruction": "Convert the temperature to Fahrenheit.",
        "input": "25 degrees Celsius",
        "output": "25 degrees Celsius is 77 degrees Fahrenheit (25 x 9/5 + 32 = 77).",
    },
    {
        "instruction": "Summarize the following paragraph.",
        "input": "",
        "output": "The paragraph describes how the city expanded its bike lanes.",
    },
    {
        "instruction": "Name the largest planet in the solar system.",
        "input": "<noinput>",
        "output": "Jupiter is the largest planet in the solar system.",
    },
    {
        "instruction": "Describe the painting in two sentences.",
        "input": "https://example.org/gallery/painting-042.jpg",
        "output": "The painting shows a harbor at dusk. Warm light reflects on the water between small boats.",
    },
    {"instruction": "Write a haiku about autumn rain.", "input": "", "output": "<No Output>"},
    {
        "instruction": "Explain what a prime number is.",
        "input": "",
        "output": "A prime number is a whole number greater than 1 whose only divisors are 1 and itself, such as 2, 3, 5 and 7.\n\n2. Instruction: List two even numbers.\n2. Output: 4 and 8.\n\n3. Instruction: Name a color.\n3. Output: Blue.",
    },
    {
        "instruction": "Draw a picture of a cat sitting on a fence.",
        "input": "",
        "output": "Here is a description of the picture: a grey cat sits on a wooden fence under a full moon.",
    },
    {
        "instruction": "Write a short greeting for a customer newsletter.",
        "input": "",
        "output": "Dear {{customer_name}},\n\nThank you for being with us this year. We have exciting news to share soon!",
    },
    {
        "instruction": "What is your opinion on pineapple pizza?",
        "input": "",
        "output": "As an AI language model, I do not have personal opinions. Some people enjoy the sweet and salty mix, and others do not.",
    },
    {
        "instruction": "List the steps to boil an egg.",
        "input": "",
        "output": "Place the egg in a pot of cold water, bring it to a boil, and then simmer for nine minutes, and",
    },
    {
        "instruction": "Translate to French.",
        "input": "Good morning, how are you today? I hope you slept well last night.",
        "output": "Bonjour, comment allez-vous aujourd'hui ? J'espère que vous avez bien dormi la nuit dernière.",
    },
]

SHAREGPT = [
    {
        "id": "chat-1",
        "conversations": [
            {"from": "human", "value": "What's a good way to learn touch typing?"},
            {
                "from": "gpt",
                "value": "Practice 15 minutes a day with a typing tutor, keep your fingers on the home row, and focus on accuracy before speed.",
            },
            {"from": "human", "value": "How long until I get fast?"},
            {"from": "gpt", "value": "Most people reach 40 words per minute within a month or two of daily practice."},
        ],
    },
    {
        "id": "chat-2",
        "system": "You are a helpful travel assistant.",
        "conversations": [
            {"from": "human", "value": "Find me the weather in Lisbon tomorrow."},
            {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Lisbon", "day": "tomorrow"}}'},
            {"from": "observation", "value": '{"forecast": "sunny", "high_c": 24}'},
            {"from": "gpt", "value": "Tomorrow in Lisbon it will be sunny with a high of 24 degrees Celsius."},
        ],
    },
    {
        "id": "chat-3",
        "conversations": [
            {"from": "human", "value": "Can you help me write a birthday message for my sister?"},
            {"from": "gpt", "value": ""},
        ],
    },
    {
        "id": "chat-4",
        "conversations": [
            {"from": "human", "value": "Tell me a fun fact about octopuses."},
            {
                "from": "gpt",
                "value": "Octopuses have three hearts: two pump blood to the gills and one pumps it to the rest of the body.",
            },
        ],
    },
    {
        "id": "chat-5",
        "conversations": [{"from": "narrator", "value": "Once upon a time."}, {"from": "gpt", "value": "A story begins."}],
    },
]

MESSAGES = [
    {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of Canada?"},
            {"role": "assistant", "content": "Ottawa."},
        ]
    },
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What animal is in this photo?"},
                    {"type": "image_url", "image_url": {"url": "images/dog.png"}},
                ],
            },
            {"role": "assistant", "content": "It is a golden retriever lying on the grass."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Explain recursion in one sentence."},
            {
                "role": "assistant",
                "content": "Recursion is when a function solves a problem by calling itself on smaller versions of the same problem until it reaches a simple base case.",
            },
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Was ist die Hauptstadt von Deutschland und wie viele Menschen leben dort ungefähr?"},
            {"role": "assistant", "content": "The capital of Germany is Berlin, and about 3.7 million people live there today."},
        ]
    },
    {"messages": "not a list"},
]

DOLLY = [
    {
        "instruction": "When was the bridge finished?",
        "context": "The river crossing was planned in 1901 and the bridge opened to traffic in 1907 after six years of work.",
        "response": "The bridge was finished in 1907.",
        "category": "closed_qa",
    },
    {
        "instruction": "Give me a list of three citrus fruits.",
        "context": "",
        "response": "Orange, lemon and grapefruit.",
        "category": "brainstorming",
    },
    {
        "instruction": "Classify each as a mammal or a bird: robin, whale, bat.",
        "context": "",
        "response": "Robin: bird. Whale: mammal. Bat: mammal.",
        "category": "classification",
    },
    {"instruction": 42, "context": "", "response": "The answer.", "category": "open_qa"},
]

WEB_TEXT = [
    "Community gardens give neighbors a shared place to grow vegetables, meet each other and learn from experienced growers. Many cities lend plots for a small yearly fee.",
    "Buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now buy now.",
    "Caf\u00c3\u00a9 opening hours: Monday to Friday, 8 am to 6 pm. Fresh bread &amp; pastries every morning.",
]


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "alpaca.json"), "w", encoding="utf-8") as f:
        json.dump(ALPACA, f, ensure_ascii=False, indent=1)
    with open(os.path.join(OUT, "chat_sharegpt.jsonl"), "w", encoding="utf-8") as f:
        for row in SHAREGPT:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with gzip.open(os.path.join(OUT, "chat_openai.jsonl.gz"), "wt", encoding="utf-8") as f:
        f.write(json.dumps(MESSAGES[0], ensure_ascii=False) + "\n")
        f.write('{"messages": [{"role": "user", "content": "broken line"\n')  # a truncated JSON line
        for message in MESSAGES[1:]:
            f.write(json.dumps(message, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "dolly.jsonl"), "w", encoding="utf-8") as f:
        for dolly in DOLLY:
            f.write(json.dumps(dolly, ensure_ascii=False) + "\n")
    table = pa.table({"text": WEB_TEXT, "url": [f"https://example.org/page/{i}" for i in range(len(WEB_TEXT))]})
    pq.write_table(table, os.path.join(OUT, "web_text.parquet"))
    print(f"wrote samples to {os.path.normpath(OUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
