// Herald's portal needs no script; this one only signs in from a link. A portal link carries
// its key in the fragment (#key=...), which browsers never send to a server: take it out of
// the address bar, then post it to /portal/session, which sets the session cookie.
(function () {
  "use strict";
  var form = document.getElementById("signin");
  if (!form) return;
  var m = /[#&]key=([^&]+)/.exec(window.location.hash);
  if (m) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    form.elements.token.value = decodeURIComponent(m[1]);
    form.classList.add("busy");
    form.submit();
    return;
  }
  var resume = document.getElementById("resume");
  if (resume) window.location.replace(resume.href);
})();
