"""A stand-in OpenAI-compatible server for fault tests (named as such: the real model is tested separately).

A real HTTP server on 127.0.0.1 that answers /v1/chat/completions with a JSON object in Taiwan Traditional Chinese
derived from the prompt, and injects faults on the first attempt of any prompt carrying a marker:
[429] rate limit with Retry-After, [500] server error, [slow] longer than the client timeout, [drop] the
connection closed without a reply, [badbody] a 200 whose body is cut-off JSON, [badjson] a reply whose content is
not JSON (the client must repair),
[always500] fails every time. It counts requests so tests can assert how many reached it.
Quality-rating prompts (the rubric of `curate label-quality`) get {"score", "reason"} from a fixed rule over the
document (statutes 5, long prose 4, prose 3, fragments 1): a stand-in rater whose labels a classifier can learn, not
a judgement of quality."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SENTENCES = ["臺灣的捷運系統讓通勤更方便", "使用者可以在設定中調整記憶體用量", "這部影片介紹了夜市小吃的歷史", "軟體更新前請先備份資料",
             "網路連線中斷時請重新啟動路由器", "颱風來臨前要準備飲用水與手電筒", "高鐵從臺北到高雄大約一個半小時", "資訊安全需要定期更換密碼",
             "學生可以到圖書館借閱參考書", "這道料理需要先用小火慢燉", "健保卡可以在超商列印就醫紀錄", "博物館週一休館請留意開放時間"]


def stand_in_rating(document: str) -> dict:
    text = document.strip()
    if "第" in text and "條" in text:
        return {"score": 5, "reason": "法規條文"}
    sentences = text.count("。") + text.count("！") + text.count("？")
    if len(text) >= 300 and sentences >= 4:
        return {"score": 4, "reason": "資訊完整的說明文字"}
    if sentences >= 2:
        return {"score": 3, "reason": "通順的一般文字"}
    return {"score": 1, "reason": "片段文字"}


def stand_in_judgement(prompt: str) -> dict:
    """A stand-in judge (not a model): scores an answer by how much of the reference (or, without one, the question) it
    shares as character bigrams, whether it is long enough and whether it ends like a finished sentence. It separates
    a reference answer from the same answer cut short or swapped with another question's, which is what the judge gate
    must act on; it knows nothing of quality."""
    reference = prompt.split("參考答案（可用來判斷正確性）：", 1)[1].split("對話：", 1)[0] if "參考答案（可用來判斷正確性）：" in prompt else ""
    conversation = prompt.split("對話：", 1)[1].rsplit("只輸出", 1)[0]
    turns = re.findall(r"(使用者|助理)：(.*?)(?=\n(?:使用者|助理)：|\Z)", conversation.strip(), re.S)
    answers = [t for role, t in turns if role == "助理"]
    questions = [t for role, t in turns if role == "使用者"]
    answer = "".join(answers)
    target = reference or "".join(questions)
    bigrams = lambda t: {t[i:i + 2] for i in range(len(t) - 1)}  # noqa: E731
    shared = len(bigrams(answer) & bigrams(target)) / max(len(bigrams(target)), 1)
    finished = answer.rstrip().endswith(tuple("。！？!?.」）)*`"))
    score = 1 + 2 * (shared >= 0.75) + (shared >= 0.9) + finished
    return {"helpfulness": score, "correctness": score, "fluency": min(5, score + 1), "instruction_following": score,
            "reason": f"stand-in: shares {shared:.2f} of the reference bigrams, {'finished' if finished else 'cut off'}"}


class Stub:
    def __init__(self, timeout_marker_delay: float = 3.0, latency: float = 0.0, fail_judge: bool | str = False):
        self.latency = latency  # fixed service time per request (benchmarks)
        # judge requests answered HTTP 500 every time: all of them (True) or those whose conversation holds this text
        self.fail_judge = fail_judge
        self.judge_requests = 0
        self.requests = 0
        self.attempts: dict[str, int] = {}
        self.delay = timeout_marker_delay
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                key = hashlib.sha256(json.dumps(body["messages"], ensure_ascii=False).encode()).hexdigest()
                with stub.lock:
                    stub.requests += 1
                    attempt = stub.attempts[key] = stub.attempts.get(key, 0) + 1
                first = attempt == 1
                if stub.latency:
                    time.sleep(stub.latency)
                if "[always500]" in prompt:
                    return self._send(500, {"error": {"message": "always failing"}})
                if first and "[429]" in prompt:
                    return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})
                if first and "[500]" in prompt:
                    return self._send(500, {"error": {"message": "boom"}})
                if first and "[slow]" in prompt:
                    time.sleep(stub.delay)
                if first and "[drop]" in prompt:
                    self.connection.close()
                    return
                if first and "[badbody]" in prompt:  # HTTP 200 whose body is not JSON at all
                    data = b'{"id": "x", "choices": [{"message": {"content": "trunc'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if first and "[badjson]" in prompt and "不是有效的 JSON" not in prompt:
                    return self._reply("好的，以下是新的問答：指令是說明捷運，回答是很方便。")
                if '"helpfulness"' in prompt:
                    with stub.lock:
                        stub.judge_requests += 1
                    if stub.fail_judge is True or (isinstance(stub.fail_judge, str) and stub.fail_judge in prompt):
                        return self._send(500, {"error": {"message": "judge down"}})
                    return self._reply(json.dumps(stand_in_judgement(prompt), ensure_ascii=False))
                if "評分標準" in prompt:
                    return self._reply(json.dumps(stand_in_rating(prompt.split("文件：", 1)[1].rsplit("只輸出", 1)[0]),
                                                  ensure_ascii=False))
                h = int(key[:8], 16)
                picks = [SENTENCES[(h >> (4 * i)) % len(SENTENCES)] for i in range(4)]
                q_key, a_key = ("question", "answer") if "question" in prompt else ("instruction", "response")
                content = json.dumps({q_key: f"請問{picks[0]}，原因是什麼？（{key[:6]}）",
                                      a_key: f"{picks[1]}。{picks[2]}。{picks[3]}。"}, ensure_ascii=False)
                if "文章：" in prompt:  # doc_qa: answer from the document itself, so it is grounded
                    doc = prompt.split("文章：", 1)[1].split("只輸出", 1)[0].strip()
                    content = json.dumps({q_key: f"文章提到什麼？（{key[:6]}）", a_key: doc[:80]}, ensure_ascii=False)
                self._reply(content)

            def _reply(self, content: str):
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90}})

            def _send(self, status: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        ThreadingHTTPServer.request_queue_size = 128  # room for every concurrent client connection
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Stub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def kill_after_requests(stub: Stub, cli_args: list[str], requests: int, timeout: float = 60) -> int:
    """Run `curate <cli_args>` in a child process, kill -9 it once the stub has answered `requests` requests (or at
    `timeout`), and return how many requests reached the stub."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "curation.cli", *cli_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while stub.requests < requests and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    return stub.requests
