// The patient's page: the token comes after "#" in the link (never sent to the server), is
// kept for this tab only, and goes to the API in the Authorization header.
(function () {
  "use strict";
  var match = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem("rw_token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);
  }
  var token = sessionStorage.getItem("rw_token");
  var $ = function (id) { return document.getElementById(id); };
  if (!token) {
    $("signin-needed").hidden = false; $("progress").hidden = true;
    $("upload-form").hidden = true;
    return;
  }
  var auth = {"Authorization": "Bearer " + token};
  var patient = null;
  function text(el, value) { el.textContent = value; return el; }
  function cell(row, value) { text(row.insertCell(), value); }
  function words(status, reason, days) {
    if (status === "stored" || status === "partial") {
      return "Accepted: " + days + " day" + (days === 1 ? "" : "s") + " of data" + (status === "partial" ? " (the end of the file was damaged; what could be read was kept)" : "");
    }
    if (status === "duplicate") { return "Already received: nothing new in this file"; }
    return "Not accepted";
  }
  function plain(reason) {  // the API's reason without what only the command line can do
    return (reason || "").replace(/;\s*pass --format.*$/, "").replace(/^[^:]*:\s*not a format/, "not a format");
  }
  function when(iso, tz) {
    return new Date(iso).toLocaleString("en-GB", {timeZone: tz, dateStyle: "medium", timeStyle: "short"});
  }
  function show(doc) {
    patient = doc.patient_id;
    text($("words"), doc.words);
    text($("target"), doc.steps_low === null ? "" : "Your daily steps target now: " + Math.round(doc.steps_low).toLocaleString("en") +
      (doc.steps_high === null ? " or more" : " to " + Math.round(doc.steps_high).toLocaleString("en")) + " (" + doc.phase + ", week " + doc.week + ").");
    text($("last-sync"), doc.last_sync_at ? "Last data from your tracker: " + when(doc.last_sync_at, doc.tz) + "." : "No data from your tracker yet.");
    var list = $("nudges"); list.textContent = "";
    doc.nudges.forEach(function (m) { text(list.appendChild(document.createElement("li")), m); });
    var body = $("uploads").tBodies[0]; body.textContent = "";
    doc.uploads.forEach(function (u) {
      var row = body.insertRow();
      cell(row, when(u.received_at, doc.tz)); cell(row, u.filename);
      cell(row, words(u.status, u.reason, u.days)); cell(row, plain(u.reason));
    });
  }
  function load() {
    return fetch("/api/v1/me/progress", {headers: auth}).then(function (r) {
      if (r.status === 401) { sessionStorage.removeItem("rw_token"); throw new Error("This link no longer works: ask your care team for a new one."); }
      if (!r.ok) { throw new Error("Your progress could not be loaded just now. Try again later."); }
      return r.json();
    }).then(show).catch(function (e) { text($("words"), e.message); });
  }
  $("upload-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var file = $("file").files[0];
    if (!file || !patient) { return; }
    var form = new FormData(); form.append("file", file);
    var out = $("upload-result"); text(out, "Sending " + file.name + "…"); out.className = "";
    fetch("/api/v1/patients/" + encodeURIComponent(patient) + "/uploads", {method: "POST", headers: auth, body: form})
      .then(function (r) { return r.json().then(function (doc) { return {ok: r.ok, doc: doc}; }); })
      .then(function (answer) {
        if (!answer.ok) { throw new Error("Not accepted: " + (answer.doc.error || "the file could not be sent")); }
        var u = answer.doc.uploads[0];
        var ok = u.status === "stored" || u.status === "partial";
        out.className = ok ? "notice" : "problem";
        text(out, words(u.status, u.reason, u.days.length) + (u.reason ? ": " + plain(u.reason) : ".") +
          (ok && u.days.length ? " Days: " + u.days[0] + (u.days.length > 1 ? " to " + u.days[u.days.length - 1] : "") + "." : ""));
        $("upload-form").reset();
        return load();
      })
      .catch(function (e) { out.className = "problem"; text(out, e.message); });
  });
  load();
})();
