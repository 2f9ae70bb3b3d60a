"""Reports of a run a trader reads, the same for backtest, paper and demo: build a ReportData
(model.py), pick a folder (folders.new_run_folder), write it (render.write_report)."""
