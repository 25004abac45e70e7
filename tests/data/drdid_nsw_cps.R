# Reference numbers of R DRDID for tests/test_weighting_golden.py and tests/test_did_golden.py.
#
# DRDID is not packaged for Debian and CRAN is out of reach here, so this script sources the
# package's R functions from a checkout of https://github.com/pedrohcgs/DRDID at commit
# f439aac (June 2024, DRDID 1.0.7, the build of the package's documentation pages), which
# need only base R (stats::glm). Usage:
#
#   Rscript tests/data/drdid_nsw_cps.R /path/to/DRDID/R [/path/to/DRDID/data/nsw_long.rda]
#
# 1. With nsw_long.rda it first re-runs the package's own documentation example (the LaLonde
#    sample with the CPS comparison group, a 5,000-unit subsample drawn with set.seed(123))
#    and prints it beside the published output of the documentation pages (drdid.html,
#    ipwdid.html, ordid.html, ipw_did_panel.html): the sourced functions reproduce them.
# 2. It then computes the same estimators on the Dehejia-Wahba NSW treated (nsw_mixtape.csv,
#    185 units) with the CPS-1 comparison group (cps_mixtape.csv, 15,992 units): outcome
#    re75 -> re78, covariates age, educ, black, married, nodegree, hisp, re74 (the covariates
#    of the DRDID example), and writes tests/data/drdid_nsw_cps.json. With y0 = 0 the panel
#    estimators are the cross-sectional ATT estimators of impact.estimators.matching
#    (ipw: std_ipw_did_panel; aipw: drdid_panel), also written to the JSON. Every number is
#    computed twice: with R glm's default convergence tolerance (epsilon = 1e-8, as the package
#    runs) and with the logit converged to epsilon = 1e-14 ("converged"): the default leaves
#    the score equations off zero by enough to move the IPW standard error in its 7th digit
#    (the mean of the influence function is not quite zero and sd() removes it).
# DRDID reports sd(influence function) / sqrt(n); R `did` and impact report
# sqrt(sum(influence^2)) / n: the same up to the factor sqrt(n / (n - 1)).
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]
for (f in c("drdid_panel.R", "std_ipw_did_panel.R", "reg_did_panel.R", "ipw_did_panel.R")) source(file.path(src, f))
fns <- c(dr = "drdid_panel", ipw = "std_ipw_did_panel", reg = "reg_did_panel", ipw_ht = "ipw_did_panel")
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))

if (length(args) >= 2) {
  load(args[2])
  ev <- subset(nsw_long, nsw_long$treated == 0 | nsw_long$sample == 2)
  set.seed(123)
  unit_random <- sample(unique(ev$id), 5000)
  ev <- ev[ev$id %in% unit_random, ]
  w <- reshape(ev[, c("id", "year", "re", "experimental", "age", "educ", "black", "married", "nodegree", "hisp",
                      "re74")], idvar = "id", timevar = "year", direction = "wide", v.names = "re")
  covX <- as.matrix(cbind(1, w$age, w$educ, w$black, w$married, w$nodegree, w$hisp, w$re74))
  published <- list(dr = c(-507.6113, 692.9738), ipw = c(-655.9068, 687.8493), reg = c(-1312.6766, 597.2834),
                    ipw_ht = c(-724.1929, 692.1639))
  for (k in names(fns)) {
    r <- get(fns[[k]])(y1 = w$re.1978, y0 = w$re.1975, D = w$experimental, covariates = covX)
    cat(sprintf("documentation example %-6s ATT %.4f (published %.4f)  SE %.4f (published %.4f)\n", k, r$ATT,
                published[[k]][1], r$se, published[[k]][2]))
  }
}

nsw <- read.csv(file.path(here, "nsw_mixtape.csv"))
cps <- read.csv(file.path(here, "cps_mixtape.csv"))
d <- rbind(nsw[nsw$treat == 1, ], cps)
X <- as.matrix(cbind(1, d$age, d$educ, d$black, d$marr, d$nodegree, d$hisp, d$re74))
run_all <- function() {
  res <- list(did = list(), cross_section = list())
  for (k in names(fns)) {
    r <- get(fns[[k]])(y1 = d$re78, y0 = d$re75, D = d$treat, covariates = X)
    res$did[[k]] <- list(att = r$ATT, se = r$se)
    r0 <- get(fns[[k]])(y1 = d$re78, y0 = rep(0, nrow(d)), D = d$treat, covariates = X)
    res$cross_section[[k]] <- list(att = r0$ATT, se = r0$se)
    cat(sprintf("NSW (DW) + CPS-1 %-6s DiD ATT %.6f SE %.6f | re78 ATT %.6f SE %.6f\n", k, r$ATT, r$se, r0$ATT,
                r0$se))
  }
  res
}
out <- list(default_glm = run_all())
gc0 <- stats::glm.control
assignInNamespace("glm.control", function(epsilon = 1e-14, maxit = 100, trace = FALSE) gc0(epsilon, maxit, trace),
                  "stats")
cat("with glm converged to epsilon = 1e-14:\n")
out$converged <- run_all()
out$n <- nrow(d)
out$source <- "DRDID R functions at commit f439aac (github.com/pedrohcgs/DRDID, version 1.0.7), sourced"
out$r_version <- R.version.string
out$data <- "nsw_mixtape.csv treated (185) + cps_mixtape.csv (15,992); y0 = re75, y1 = re78; X = 1, age, educ, black, marr, nodegree, hisp, re74"
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "drdid_nsw_cps.json"))
