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
