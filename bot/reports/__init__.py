"""The office report: sections gathered from every feature, written as a workbook, a Word
document (with charts) and, when LibreOffice is installed, a PDF."""
