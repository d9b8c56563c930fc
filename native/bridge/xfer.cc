// File transfers, kept simple: libpurple reads and writes the local files itself (no ui_read /
// ui_write); the bridge numbers each transfer, reports its progress as "xfer" events, and lets
// JS accept an incoming one by answering the questions libpurple asks (accept? → where to?).
#include "bridge.h"

#include <map>

namespace bridge {

namespace {

struct Entry {
  uint32_t id;
  PurpleXfer* xfer;
  bool hasDest = false;
  std::string dest;
};
uint32_t nextId = 1;
std::map<uint32_t, Entry> byId;
std::map<PurpleXfer*, uint32_t> byXfer;

const char* StatusName(PurpleXferStatusType status) {
  switch (status) {
    case PURPLE_XFER_STATUS_NOT_STARTED: return "not_started";
    case PURPLE_XFER_STATUS_ACCEPTED: return "accepted";
    case PURPLE_XFER_STATUS_STARTED: return "started";
    case PURPLE_XFER_STATUS_DONE: return "done";
    case PURPLE_XFER_STATUS_CANCEL_LOCAL: return "cancel_local";
    case PURPLE_XFER_STATUS_CANCEL_REMOTE: return "cancel_remote";
    default: return "unknown";
  }
}

void Report(PurpleXfer* xfer) {
  auto it = byXfer.find(xfer);
  if (it == byXfer.end()) return;
  Emit("xfer", Json()
                   .num("id", it->second)
                   .account(purple_xfer_get_account(xfer))
                   .str("who", purple_xfer_get_remote_user(xfer))
                   .str("direction", purple_xfer_get_type(xfer) == PURPLE_XFER_SEND ? "send" : "receive")
                   .str("filename", purple_xfer_get_filename(xfer))
                   .num("size", static_cast<double>(purple_xfer_get_size(xfer)))
                   .num("bytesSent", static_cast<double>(purple_xfer_get_bytes_sent(xfer)))
                   .str("status", StatusName(purple_xfer_get_status(xfer)))
                   .done());
}

void NewXfer(PurpleXfer* xfer) {
  uint32_t id = nextId++;
  byId[id] = Entry{id, xfer, false, {}};
  byXfer[xfer] = id;
}

void Destroy(PurpleXfer* xfer) {
  auto it = byXfer.find(xfer);
  if (it == byXfer.end()) return;
  byId.erase(it->second);
  byXfer.erase(it);
}

void Progress(PurpleXfer* xfer, double) { Report(xfer); }

PurpleXferUiOps ops = {NewXfer, Destroy, Report, Progress, Report, Report, nullptr, nullptr, nullptr, nullptr};

void OnSignal(PurpleXfer* xfer, gpointer) { Report(xfer); }

}  // namespace

PurpleXferUiOps* XferUiOps() { return &ops; }

void XferConnectSignals(void* handle) {
  const char* names[] = {"file-recv-request", "file-recv-accept", "file-send-accept", "file-recv-start",
                         "file-send-start", "file-recv-complete", "file-send-complete"};
  for (const char* name : names) {
    purple_signal_connect(purple_xfers_get_handle(), name, handle, PURPLE_CALLBACK(OnSignal), nullptr);
  }
}

const char* XferDestinationFor(PurpleXfer* xfer) {
  auto it = byXfer.find(xfer);
  if (it == byXfer.end()) return nullptr;
  Entry& e = byId[it->second];
  return e.hasDest ? e.dest.c_str() : nullptr;
}

std::string AcceptFile(uint32_t id, const char* destPath) {
  auto it = byId.find(id);
  if (it == byId.end()) return "no such file transfer: " + std::to_string(id);
  Entry& e = it->second;
  if (purple_xfer_get_type(e.xfer) != PURPLE_XFER_RECEIVE) return "TypeError:transfer " + std::to_string(id) + " is not incoming";
  bool isFile = false;
  uint32_t request = FindRequestFor(e.xfer, &isFile);
  if (destPath == nullptr) {
    if (request == 0) purple_xfer_cancel_local(e.xfer);
    else if (isFile) FinishRequest(request, true, nullptr, 0);
    else FinishRequest(request, false, nullptr, 1);  // purple_request_accept_cancel: [accept, cancel]
    return "";
  }
  e.hasDest = true;
  e.dest = destPath;
  if (request == 0) return "";  // answered when libpurple asks (RequestFile)
  if (isFile) FinishRequest(request, false, destPath, 0);
  else FinishRequest(request, false, nullptr, 0);  // → libpurple asks where to, RequestFile answers
  return "";
}

}  // namespace bridge
