#!/usr/bin/python3
"""A real third-party XMPP client (Debian's python3-slixmpp) driven by a plan.

Usage: /usr/bin/python3 -I client.py '<plan as JSON>'

The plan: {"host", "port", "jid", "password", "resource"?, "mechanism"?,
"timeout"? (seconds), "actions": [...]}. Actions, run in order after the
session starts:
  {"do": "presence", "show"?: str, "status"?: str}
  {"do": "roster"}                      get the roster
  {"do": "add_contact", "jid", "name"?, "groups"?: [str]}
  {"do": "subscribe", "jid"}            presence subscription request
  {"do": "send", "to", "body", "type"?: "chat"}
  {"do": "wait_message", "from"?: bare or full JID, "body"?, "timeout"?: s}
  {"do": "disco_info", "jid"?}          XEP-0030 on the server by default
  {"do": "ping", "jid"?}                XEP-0199 on the server by default
  {"do": "sleep", "seconds"}

Prints one JSON object per line on stdout, each with an "event" key:
connected, authenticated, session_start, roster, roster_update, contact_added, sent,
message, presence, disco_info, pong, error, done. Exit status 0 when every
action succeeded, 1 on any error (an "error" event says why), 2 on a bad plan.

It connects to host:port only: the JIDs' domains (.onion names) never
resolve, so DNS is bypassed entirely. No TLS: the harness servers listen on
loopback in plain text.
"""
import asyncio
import json
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}, ensure_ascii=False), flush=True)


def bare(jid):
    return str(jid).split("/", 1)[0]


class PlanClient(slixmpp.ClientXMPP):
    def __init__(self, plan):
        jid = plan["jid"] + ("/" + plan["resource"] if plan.get("resource") else "")
        super().__init__(jid, plan["password"])
        self.plan = plan
        self.address_only = (plan["host"], int(plan["port"]))
        self.messages = asyncio.Queue()
        self.ok = False
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        # SCRAM is allowed unencrypted by default; PLAIN must be allowed too.
        mechanisms = self["feature_mechanisms"]
        mechanisms.unencrypted_plain = True
        if plan.get("mechanism"):
            mechanisms.use_mech = plan["mechanism"]
        self.add_event_handler("connected", lambda _: emit("connected", address=list(self.address_only)))
        self.add_event_handler("connection_failed", self.on_connection_failed)
        self.add_event_handler("failed_all_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("auth_success", self.on_auth_success)
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("roster_update", self.on_roster_update)
        self.add_event_handler("stream_error", lambda e: self.fail("stream error: %s" % e["condition"]))

    # Never resolve anything: the address is given, the domain is an onion.
    async def get_dns_records(self, domain, port=None):
        host, port = self.address_only
        return [(host, host, port)]

    def on_connection_failed(self, error):
        self.fail("connection to %s:%d failed: %s" % (self.address_only[0], self.address_only[1], error))

    def fail(self, reason):
        emit("error", reason=reason)
        self.ok = False
        self.disconnect(wait=0.5)

    def on_auth_success(self, _):
        mech = self["feature_mechanisms"].mech
        emit("authenticated", mechanism=getattr(mech, "name", None))

    def on_message(self, msg):
        delay = msg.xml.find("{urn:xmpp:delay}delay")
        event = {
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "type": msg["type"],
            "id": msg["id"],
            "body": msg["body"],
        }
        if delay is not None:
            event["delay"] = delay.get("stamp")
        emit("message", **event)
        self.messages.put_nowait(event)

    def on_presence(self, presence):
        emit("presence", **{"from": str(presence["from"]), "type": presence["type"], "show": presence["show"]})

    def on_roster_update(self, iq):
        emit("roster_update", type=iq["type"], items=roster_items(iq))

    async def on_session_start(self, _):
        emit("session_start", jid=str(self.boundjid))
        try:
            for action in self.plan.get("actions", []):
                await self.run(action)
            self.ok = True
            emit("done")
        except (IqError, IqTimeout, asyncio.TimeoutError, ValueError) as err:
            self.fail(describe(err))
            return
        self.disconnect(wait=1.0)

    async def run(self, action):
        kind = action.get("do")
        server = self.boundjid.domain
        if kind == "presence":
            self.send_presence(pshow=action.get("show"), pstatus=action.get("status"))
        elif kind == "roster":
            await self.get_roster(timeout=10)
            # The client's view, not the raw result: with roster versioning
            # (RFC 6121 section 2.6) an unchanged roster comes back empty.
            emit("roster", items=self.roster_view())
        elif kind == "add_contact":
            await self.update_roster(action["jid"], name=action.get("name", ""), groups=action.get("groups", []), timeout=10)
            emit("contact_added", jid=action["jid"])
        elif kind == "subscribe":
            self.send_presence_subscription(pto=action["jid"])
        elif kind == "send":
            self.send_message(mto=action["to"], mbody=action["body"], mtype=action.get("type", "chat"))
            emit("sent", to=action["to"], body=action["body"])
        elif kind == "wait_message":
            try:
                await asyncio.wait_for(self.wait_message(action), timeout=action.get("timeout", 10))
            except asyncio.TimeoutError:
                raise ValueError("no message matching %s within %s s" % (
                    json.dumps({k: v for k, v in action.items() if k in ("from", "body")}, ensure_ascii=False),
                    action.get("timeout", 10)))
        elif kind == "disco_info":
            info = await self["xep_0030"].get_info(jid=action.get("jid", server), timeout=10)
            query = info["disco_info"]
            emit("disco_info", identities=[list(i) for i in query["identities"]], features=sorted(query["features"]))
        elif kind == "ping":
            rtt = await self["xep_0199"].ping(jid=action.get("jid", server), timeout=10)
            emit("pong", rtt=rtt)
        elif kind == "sleep":
            await asyncio.sleep(action["seconds"])
        else:
            raise ValueError("unknown action %r" % kind)

    def roster_view(self):
        roster = self.client_roster
        return [
            {"jid": str(jid), "name": roster[jid]["name"], "subscription": roster[jid]["subscription"],
             "groups": sorted(roster[jid]["groups"])}
            for jid in sorted(roster.keys())
            if jid != self.boundjid.bare
        ]

    async def wait_message(self, action):
        want_from, want_body = action.get("from"), action.get("body")
        while True:
            msg = await self.messages.get()
            if want_from and msg["from"] != want_from and bare(msg["from"]) != want_from:
                continue
            if want_body is not None and msg["body"] != want_body:
                continue
            return msg


def roster_items(iq):
    items = iq["roster"]["items"]
    return [
        {"jid": str(jid), "name": item.get("name", ""), "subscription": item.get("subscription", ""),
         "groups": sorted(item.get("groups", []))}
        for jid, item in items.items()
    ]


def describe(err):
    if isinstance(err, IqError):
        return "iq error: %s" % err.iq["error"]["condition"]
    if isinstance(err, (IqTimeout, asyncio.TimeoutError)):
        return "timed out waiting for a reply"
    return str(err)


def main():
    try:
        plan = json.loads(sys.argv[1])
        for key in ("host", "port", "jid", "password"):
            if key not in plan:
                raise ValueError("plan lacks %r" % key)
    except (IndexError, ValueError) as err:
        emit("error", reason="bad plan: %s" % err)
        return 2
    client = PlanClient(plan)
    client.connect(address=client.address_only, use_ssl=False, force_starttls=False, disable_starttls=True)
    loop = client.loop
    try:
        loop.run_until_complete(asyncio.wait_for(client.disconnected, timeout=plan.get("timeout", 30)))
    except asyncio.TimeoutError:
        emit("error", reason="no result within %s s" % plan.get("timeout", 30))
        return 1
    finally:
        # Let slixmpp's background tasks end quietly instead of warning on exit.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    return 0 if client.ok else 1


if __name__ == "__main__":
    sys.exit(main())
