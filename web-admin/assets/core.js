// Behaviour shared by every page, loaded from the box (no inline script:
// the Content-Security-Policy forbids it). Forms that ask for
// confirmation carry data-confirm="question".
document.addEventListener("submit", (e) => {
  const q = e.target.getAttribute && e.target.getAttribute("data-confirm");
  if (q && !window.confirm(q)) e.preventDefault();
});
