"""structhw.rtl_gen"""
