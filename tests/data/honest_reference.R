# Reference numbers of R HonestDiD for tests/test_honest_golden.py, read from the knitr cache that the
# HonestDiD repository ships with its README (README_cache/gfm/*.RData): objects computed by R HonestDiD
# itself (R's own did::att_gt / fixest inputs and createSensitivityResults* outputs), at full precision.
#
# Usage (R >= 4.2, base only; Debian: apt-get install r-base-core), given a checkout (or `git archive HEAD README_cache`):
#   Rscript tests/data/honest_reference.R <checkout of github.com/asheshrambachan/HonestDiD> > tests/data/honest_reference.json
# Produced from HonestDiD commit 6813f02ed38f0b63bdca6915604b2eac90491303 (2026-04-11; cache files dated by their last commits below)
# with R 4.2.2.
args <- commandArgs(trailingOnly = TRUE)
cache <- file.path(args[1], "README_cache", "gfm")
num <- function(x) paste0("[", paste(sprintf("%.17g", as.numeric(x)), collapse = ", "), "]")
mat <- function(m) paste0("[", paste(apply(m, 1, num), collapse = ", "), "]")
load_chunk <- function(prefix) {
  f <- list.files(cache, pattern = paste0("^", prefix, "_.*\\.rdb$"))
  e <- new.env(); invisible(lazyLoad(file.path(cache, sub("\\.rdb$", "", f)), envir = e)); e
}
out <- c()
# chunk 5 (cache of 2022-09-14): relative magnitudes, C-LF, first post period, Mbar 0..2 (baseline TWFE inputs)
e <- load_chunk("unnamed-chunk-5"); r <- e$delta_rm_results
out <- c(out, sprintf('"rm_e1_2022": {"m": %s, "lb": %s, "ub": %s}', num(r$Mbar), num(r$lb), num(r$ub)))
# chunk 6 (2024-03-28): smoothness, FLCI, first post period, M 0..0.05
e <- load_chunk("unnamed-chunk-6"); r <- e$delta_sd_results
out <- c(out, sprintf('"sd_flci_e1": {"m": %s, "lb": %s, "ub": %s}', num(r$M), num(r$lb), num(r$ub)))
# chunk 4 and 7 (2024-03-28): relative magnitudes as printed in the README (first period; average of the two)
e <- load_chunk("unnamed-chunk-4"); r <- e$delta_rm_results
out <- c(out, sprintf('"rm_e1_2024": {"m": %s, "lb": %s, "ub": %s}', num(r$Mbar), num(r$lb), num(r$ub)))
e <- load_chunk("unnamed-chunk-7"); r <- e$delta_rm_results_avg; o <- e$originalResults_avg
out <- c(out, sprintf('"rm_avg_2024": {"m": %s, "lb": %s, "ub": %s, "orig": %s}', num(r$Mbar), num(r$lb), num(r$ub), num(c(o$lb, o$ub))))
# chunk 8: TWFE event study with an (artificial) control, as estimated by fixest (the README's 'regressions with controls')
e <- load_chunk("unnamed-chunk-8")
out <- c(out, sprintf('"twfe_control": {"beta": %s, "sigma": %s}', num(e$betahat), mat(e$sigma)))
# chunks 9 (2023-05-19) and 12 (2024-03-28): Callaway-Sant'Anna event study (did::att_gt, not-yet-treated, universal base)
# on the staggered Medicaid data and HonestDiD::honest_did (relative magnitudes, e = 0, gridPoints = 100)
for (ch in c("9", "12")) {
  e <- load_chunk(paste0("unnamed-chunk-", ch)); es <- e$es; s <- e$sensitivity_results
  IF <- es$inf.function$dynamic.inf.func.e; n <- nrow(IF); V <- t(IF) %*% IF / n / n; keep <- es$egt != -1
  out <- c(out, sprintf('"cs_chunk%s": {"event_times": %s, "beta": %s, "sigma": %s, "m": %s, "lb": %s, "ub": %s, "orig": %s}',
                        ch, num(es$egt[keep]), num(es$att.egt[keep]), mat(V[keep, keep]), num(s$robust_ci$Mbar),
                        num(s$robust_ci$lb), num(s$robust_ci$ub), num(c(s$orig_ci$lb, s$orig_ci$ub))))
}
cat("{", paste(out, collapse = ",\n "), sprintf(',\n "r_version": "%s"}\n', R.version.string))
