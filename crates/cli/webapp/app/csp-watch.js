// Loaded as a classic script before anything else, so the test hooks exist
// before the first request and the first possible policy violation.
'use strict';
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.blockedURI);
});
// The default buffer (250 entries) fills during a long session; the test
// reads every request the page made.
if (performance.setResourceTimingBufferSize) performance.setResourceTimingBufferSize(10000);
