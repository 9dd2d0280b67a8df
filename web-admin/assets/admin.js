// The configuration screens: ask before a delete. Everything else works
// without script (plain forms); loaded deferred, no inline script (CSP).
"use strict";
document.querySelectorAll("form.delete").forEach(function (form) {
  form.addEventListener("submit", function (e) {
    var lang = document.documentElement.lang;
    var question = lang === "en" ? "Delete this entry?" : "Hapus entri ini?";
    if (!window.confirm(question)) {
      e.preventDefault();
    }
  });
});

// Prompt upload: the file goes as the request body (no multipart), with
// the session's CSRF token in the header the server checks.
var upload = document.getElementById("prompt-upload");
if (upload) {
  upload.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = upload.elements.file.files[0];
    var status = upload.querySelector(".status");
    var url = "/api/v1/admin/prompts/" + encodeURIComponent(upload.elements.folder.value) +
      "/" + encodeURIComponent(upload.elements.name.value);
    status.textContent = "…";
    fetch(url, {
      method: "PUT",
      body: file,
      credentials: "same-origin",
      headers: { "x-csrf-token": upload.dataset.csrf }
    }).then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) {
          window.location.reload();
        } else {
          status.textContent = (body.field ? body.field + ": " : "") + (body.message || body.error);
        }
      });
    }).catch(function (err) { status.textContent = String(err); });
  });
}

// Prompt delete: pbxd stops playing it from the next call (the built-in
// prompt of that name, if any, plays again).
document.querySelectorAll("button.prompt-delete").forEach(function (button) {
  button.addEventListener("click", function () {
    var lang = document.documentElement.lang;
    if (!window.confirm(lang === "en" ? "Delete this prompt?" : "Hapus prompt ini?")) {
      return;
    }
    fetch(button.dataset.url, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "x-csrf-token": button.dataset.csrf }
    }).then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) {
          window.location.reload();
        } else {
          button.textContent = (body.field ? body.field + ": " : "") + (body.message || body.error);
        }
      });
    }).catch(function (err) { button.textContent = String(err); });
  });
});

// Configuration restore (system page): the chosen file's text (a
// dering.toml or a backup .json, told apart by the server) goes as
// {document} to the API with the CSRF header; a refusal names its field.
var restore = document.getElementById("config-restore");
if (restore) {
  restore.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = restore.elements.file.files[0];
    var status = restore.querySelector(".status");
    status.textContent = "…";
    file.text().then(function (text) {
      return fetch("/api/v1/admin/restore", {
        method: "POST",
        body: JSON.stringify({ document: text }),
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": restore.dataset.csrf }
      });
    }).then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) {
          window.location.href = "/admin/versions?saved=" + body.version + "&live=" + (body.live ? 1 : 0);
        } else {
          status.textContent = (body.field ? body.field + ": " : "") + (body.message || body.error);
        }
      });
    }).catch(function (err) { status.textContent = String(err); });
  });
}
