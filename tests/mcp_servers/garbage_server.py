"""A hand-written stdio "MCP server" that starts properly and then answers tools/call with things that are not a
tool result (MODE: "shape": a result of the wrong shape; "huge-line": a non-JSON line, then the right answer)."""
import json
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "shape"
TOOL = {"name": "odd", "description": "Answers oddly.", "inputSchema": {"type": "object", "properties": {}}}


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue                                   # notifications (initialized, cancelled)
    method, reply = message.get("method"), {"jsonrpc": "2.0", "id": message["id"]}
    if method == "initialize":
        reply["result"] = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                           "serverInfo": {"name": "garbage", "version": "1"}}
    elif method == "tools/list":
        reply["result"] = {"tools": [TOOL]}
    elif method == "tools/call" and MODE == "shape":
        reply["result"] = {"content": "not a list of parts", "isError": "perhaps"}
    elif method == "tools/call":
        sys.stdout.write("this is not JSON at all\n")
        reply["result"] = {"content": [{"type": "text", "text": "fine after all"}]}
    else:
        reply["error"] = {"code": -32601, "message": f"Method not found: {method}"}
    send(reply)
