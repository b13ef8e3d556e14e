// ipywidgets' HTML manager typesets widget labels with MathJax 2's API
// (MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])); the book serves MathJax 3.
// This adds that one call to MathJax 3, so that "$\sigma$" in a slider's label is typeset
// as in JupyterLab instead of throwing. Loaded after MathJax (see book/conf.py).
(function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub || !mj.startup) return; // no MathJax 3 on this page: nothing to adapt
  mj.Hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        var element = Array.isArray(job) && job[0] === "Typeset" ? job[2] : undefined;
        mj.startup.promise
          .then(function () { return mj.typesetPromise(element ? [element] : undefined); })
          .catch(function (err) { console.warn("MathJax could not typeset a widget:", err); });
      });
    },
  };
})();
