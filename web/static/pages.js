// pbxhub's pages: the few things HTML cannot do alone. No inline scripts (the CSP allows none).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy a webhook URL; the field stays selectable where the clipboard is not allowed.
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Copied";
      } catch {
        button.previousElementSibling.select();
      }
    });
  }
  // A line's colour, from the channel's settings, as its mark.
  for (const line of document.querySelectorAll(".line[data-color]")) {
    line.style.borderLeftColor = line.dataset.color;
  }
});
